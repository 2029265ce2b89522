"""Every sentence a user reads comes from the gettext catalogs in ``locales/``.

Message ids are symbolic keys (``greet``, ``menu.health``), never French sentences: each
language's text lives once, in its own ``locales/<lang>/LC_MESSAGES/messages.po``, and a key
without a translation is a test failure rather than French shown to a Bambara speaker. At run
time a missing key falls back to French and is logged, so a user still gets a sentence.
"""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, time, tzinfo
from pathlib import Path

from babel import dates as babel_dates
from babel.support import NullTranslations, Translations

from bot import LANGUAGES
from bot.settings import settings_from_env

logger = logging.getLogger(__name__)

DOMAIN = "messages"
DEFAULT_LANGUAGE = "fr"
FALLBACK_LANGUAGE = "fr"


def locales_dir() -> Path:
    """Where the catalogs are: ``$LOCALES_DIR`` or the project's ``locales/``."""
    return settings_from_env().locales_dir


def supported(language: str | None) -> str:
    """``language`` if we speak it, else the default language."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@functools.cache
def translations(language: str, directory: Path | None = None) -> NullTranslations:
    """The compiled catalog of ``language``, with French behind it as a fallback.

    Cached: catalogs are read once per process, not per message.
    """
    directory = directory or locales_dir()
    loaded = Translations.load(str(directory), [language], DOMAIN)
    if not isinstance(loaded, Translations):
        raise FileNotFoundError(
            f"No compiled catalog for {language!r} in {directory}: run `make catalogs`."
        )
    if language != FALLBACK_LANGUAGE:
        loaded.add_fallback(translations(FALLBACK_LANGUAGE, directory))
    return loaded


class Translator:
    """Renders message keys in one language: ``Translator("bm")("greet")``."""

    def __init__(self, language: str | None, directory: Path | None = None) -> None:
        self.language = supported(language)
        self._catalog = translations(self.language, directory)

    def __call__(self, key: str, **values: object) -> str:
        """The text of ``key``, with ``{name}`` placeholders filled from ``values``."""
        text = self._catalog.gettext(key)
        if text == key:
            logger.warning("Message key %r has no text in %r.", key, self.language)
        return text.format(**values) if values else text


def format_date(value: date, language: str | None) -> str:
    """A date spelt out in the user's language: ``juma 15 marisi 2024``.

    Babel's output is kept as is, no-break spaces included (some fr and es formats have
    them): an SMS sender must fold them, since one turns a whole SMS into UCS-2.
    """
    return babel_dates.format_date(value, format="full", locale=supported(language))


def format_time(value: time | datetime, language: str | None, tz: tzinfo | None = None) -> str:
    """A time of day as the user's language writes it (24-hour clock in fr, es, bm)."""
    return babel_dates.format_time(value, format="short", tzinfo=tz, locale=supported(language))


def format_datetime(value: datetime, language: str | None, tz: tzinfo | None = None) -> str:
    """The full date and the time, in ``tz`` (the venue's time zone) when given:
    ``juma 15 marisi 2024, 14:00``."""
    if tz is not None and value.tzinfo is not None:
        value = value.astimezone(tz)
    return f"{format_date(value, language)}, {format_time(value, language)}"


def N_(key: str) -> str:
    """Marks a message key for extraction where it is stored, not rendered (menu labels)."""
    return key
