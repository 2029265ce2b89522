"""What the booking conversation needs besides the service: which sessions to offer her,
how a session reads in her language (Babel, the venue's time zone), and the words that
leave the booking (yes and no: :func:`bot.menu.yes_no`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy.engine import Engine

from bot.booking.service import BookingService
from bot.booking.views import SessionView
from bot.i18n import N_, format_datetime, supported
from bot.nlu.normalise import normalise, words
from bot.settings import settings_from_env

# The names of the workshops' topics and of a booking's states, as catalog keys.
TOPICS = {
    "childbirth": N_("workshop.childbirth"),
    "breastfeeding": N_("workshop.breastfeeding"),
    "motherhood": N_("workshop.motherhood"),
    "sexuality": N_("workshop.sexuality"),
    "nutrition": N_("workshop.nutrition"),
    "addiction": N_("workshop.addiction"),
}
STATUS = {"waitlisted": N_("booking.status.waitlisted")}
SEATS = N_("booking.seats")  # {seats}
FULL = N_("booking.full_short")
YES_LABEL, NO_LABEL = N_("booking.yes"), N_("booking.no")
# Sent outside a conversation (bot.booking.sender): {workshop} {place} {when} {reference}.
NOTICES = {
    "reminder": N_("booking.reminder"),
    "promoted": N_("booking.promoted"),
    "session_cancelled": N_("booking.session_cancelled"),
    "moved": N_("booking.moved"),
    "rescheduled": N_("booking.rescheduled"),
}
# The same news for a place on the waitlist (no seat yet: she must not come for nothing).
WAITLISTED_NOTICES = {
    "moved": N_("booking.moved_waitlisted"),
    "rescheduled": N_("booking.rescheduled_waitlisted"),
}
OFFER_SIZE = 4  # the intro and four short lines: two SMS
STOP = frozenset({"menu", "stop", "annuler", "laisse", "cancelar", "deja", "dabila", "0"})
MAX_TRIES = 3  # answers not understood in a row before the booking is left


@functools.lru_cache(maxsize=4)
def service(engine: Engine) -> BookingService:
    """One service per engine (cached): the actions ask for it on every turn."""
    return BookingService.from_settings(engine, settings_from_env().booking)


def notice_key(kind: str, status: str) -> str:
    """The catalog key of a notice, for the booking's status when it is sent."""
    if status == "waitlisted" and kind in WAITLISTED_NOTICES:
        return WAITLISTED_NOTICES[kind]
    return NOTICES[kind]


def offer(booking: BookingService, language: str, at: datetime | None = None) -> list[SessionView]:
    """Upcoming sessions held in her language; when there are none, every upcoming one (she
    may still follow a session in French or Spanish)."""
    sessions = booking.upcoming(at=at, limit=50)
    mine = [s for s in sessions if s.language == language]
    return (mine or sessions)[:OFFER_SIZE]


def when(view: SessionView, language: str) -> str:
    """The session's date and time in her language, on the venue's clock."""
    return format_datetime(view.starts_at, language, ZoneInfo(view.venue_timezone))


def place(view: SessionView) -> str:
    """Where, as she would find it: the venue and its city."""
    return f"{view.venue_name}, {view.venue_city}"


def short_when(view: SessionView, language: str) -> str:
    """"sam. 12 déc., 10:00": a list line must stay short on an SMS."""
    local = view.starts_at.astimezone(ZoneInfo(view.venue_timezone))
    day = format_date(local, "EEE d MMM", locale=supported(language))
    return f"{day}, {local:%H:%M}"


def line(view: SessionView, translate: Callable[..., str], language: str) -> str:
    """One offered session: "Allaitement - Bamako - sam. 12 déc., 10:00 (places: 5)"."""
    seats = translate(SEATS, seats=view.seats_left) if view.seats_left else translate(FULL)
    return f"{topic(view, translate)} - {view.venue_city} - {short_when(view, language)} ({seats})"


def topic(view: SessionView, translate: Callable[..., str]) -> str:
    """The topic in her language (a topic the catalog lacks is shown as stored)."""
    return translate(TOPICS[view.topic]) if view.topic in TOPICS else view.topic


def wants_to_stop(reply: str) -> bool:
    """A short reply with a word that leaves the booking; a longer one is an answer."""
    tokens = words(normalise(reply))
    return bool(tokens) and len(tokens) <= 3 and bool(set(tokens) & STOP)
