"""The counsellor registry file, and the counsellor it describes.

The source of truth in production is a YAML file outside git (``COUNSELLORS_FILE``: names,
phone numbers and Telegram ids are personal data); the local run uses
``counsellors.local.yml`` (one counsellor, played by the console). Here: what one entry may
say (:class:`Counsellor`, checked whole when it is made, so a bad file fails before anything
is written), how a file is read (:func:`load_file`), and the addresses' stored and shown
forms. The table and its queries are :mod:`bot.handoff.registry`, which imports this module
(never the other way round).

Working hours are wall-clock times in the counsellor's timezone, so "08:00" stays 08:00 for
her across daylight-saving changes (:mod:`bot.handoff.hours`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.countries import calling_code, country_of_phone
from bot.datafiles import languages_of, load_yaml
from bot.handoff.hours import Hours, timezone_info
from bot.settings import HandoffSettings

CHANNELS = ("telegram", "sms", "local")
# A supervisor also assigns, takes over and closes any handoff, and reads any transcript.
ROLES = ("counsellor", "supervisor")
LOCAL_FILE = Path(__file__).with_name("counsellors.local.yml")
FILE_KEYS = ("id", "name", "languages", "channel", "address", "timezone", "hours")
OPTIONAL_KEYS = ("active", "role")

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_TELEGRAM_ID = re.compile(r"[1-9]\d{0,19}")


def counsellors_file(settings: HandoffSettings) -> Path:
    """``COUNSELLORS_FILE``, else the local run's registry (the console's counsellor)."""
    return Path(settings.counsellors_file) if settings.counsellors_file else LOCAL_FILE


def normalise_address(channel: str, address: object) -> str:
    """The stored form of an address: digits of a Telegram user id, an E.164 number without
    spaces, a local name. ValueError (without the address: it is personal data) if invalid."""
    text = str(address).strip()
    if channel == "telegram":
        if not _TELEGRAM_ID.fullmatch(text):
            raise ValueError(
                "a Telegram address is the numeric user id (e.g. 100000001), not a @username"
            )
    elif channel == "sms":
        text = re.sub(r"[\s().-]", "", text)
        if not _E164.fullmatch(text):
            raise ValueError(
                "an sms address is an E.164 phone number: '+', country code and number,"
                " 8 to 15 digits (e.g. +22370000001)"
            )
    elif channel == "local":
        if not text or len(text) > 64:
            raise ValueError("a local address is a name of 1 to 64 characters (e.g. console)")
    else:
        raise ValueError(f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})")
    return text


def mask(channel: str, address: str) -> str:
    """An address fit for a screen: ``+223•••••01``, ``tg:•••01``; a local name as is."""
    if not address:
        return "-"
    if channel == "sms":
        prefix = calling_code(country_of_phone(address)) or address[:3]  # shown unmasked
        return f"{prefix}•••••{address[-2:]}"
    if channel == "telegram":
        return f"tg:•••{address[-2:]}"
    return address


@dataclass(frozen=True)
class Counsellor:
    """One counsellor. ``languages[0]`` is the language the console talks to her in. ``hours``
    may be given as text: it is read in ``timezone``. An inactive counsellor may have no
    address (it was given to someone else)."""

    id: str
    name: str
    languages: tuple[str, ...]
    channel: str
    address: str = field(repr=False)  # personal data: kept out of reprs, hence of logs
    timezone: str
    hours: Hours
    active: bool = True
    role: str = "counsellor"

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _SLUG.fullmatch(self.id):
            raise ValueError(
                f"counsellor id {self.id!r}: a short slug of a-z, 0-9, '-' or '_' (e.g. 'awa')"
            )
        where = f"counsellor {self.id}"
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 80:
            raise ValueError(f"{where}: a name of 1 to 80 characters is required")
        object.__setattr__(self, "name", self.name.strip())
        languages = languages_of(self.languages or (), where)
        object.__setattr__(self, "languages", languages)
        if self.channel not in CHANNELS:
            raise ValueError(
                f"{where}: unknown channel {self.channel!r} (channels: {', '.join(CHANNELS)})"
            )
        if not isinstance(self.active, bool):
            raise ValueError(f"{where}: active must be true or false")
        if self.role not in ROLES:
            raise ValueError(f"{where}: unknown role {self.role!r} (roles: {', '.join(ROLES)})")
        if self.active or self.address:
            try:
                address = normalise_address(self.channel, self.address)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            object.__setattr__(self, "address", address)
        else:
            object.__setattr__(self, "address", "")
        try:
            timezone_info(self.timezone)
            if isinstance(self.hours, str):
                object.__setattr__(self, "hours", Hours.parse(self.hours, self.timezone))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if not isinstance(self.hours, Hours):
            raise ValueError(f"{where}: hours must be text such as 'mon-fri 08:00-18:00'")
        if self.hours.timezone != self.timezone:
            raise ValueError(
                f"{where}: hours are in {self.hours.timezone}, the counsellor in {self.timezone}"
            )

    @classmethod
    def from_mapping(cls, data: object) -> Counsellor:
        """One entry of a registry file (``FILE_KEYS``, and ``active`` optionally)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping with keys {', '.join(FILE_KEYS)}")
        missing = [key for key in FILE_KEYS if key not in data]
        unknown = sorted(str(key) for key in data if key not in (*FILE_KEYS, *OPTIONAL_KEYS))
        where = f"counsellor {data.get('id', '?')}"
        if missing or unknown:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown key(s) {', '.join(unknown)}"] if unknown else []
            )
            raise ValueError(f"{where}: {'; '.join(problems)}")
        address = data["address"]
        if isinstance(address, int) and not isinstance(address, bool):
            if data["channel"] == "sms":  # YAML reads +22370000001 as the integer 22370000001
                raise ValueError(f"{where}: write the phone number in quotes: '+223...'")
            address = str(address)
        languages = data["languages"]
        if isinstance(languages, str):
            languages = languages.split(",")
        if not isinstance(languages, list):
            raise ValueError(f"{where}: languages is a list such as [fr, bm]")
        return cls(
            id=data["id"],
            name=data["name"],
            languages=tuple(languages),
            channel=data["channel"],
            address=address if isinstance(address, str) else "",
            timezone=data["timezone"],
            hours=data["hours"],
            active=data.get("active", True),
            role=data.get("role", "counsellor"),
        )

    @property
    def language(self) -> str:
        """The language the console talks to her in."""
        return self.languages[0]

    @property
    def masked_address(self) -> str:
        """Her address fit for a screen (:func:`mask`)."""
        return mask(self.channel, self.address)

    @property
    def supervisor(self) -> bool:
        """A supervisor also assigns, takes over and closes any handoff."""
        return self.role == "supervisor"

    def speaks(self, language: str) -> bool:
        """Whether a request in ``language`` may go to her."""
        return language in self.languages

    def on_duty(self, at: datetime) -> bool:
        """Whether she works at ``at``: active, and within her hours."""
        return self.active and self.hours.is_open(at)


def load_file(path: str | Path) -> list[Counsellor]:
    """The counsellors of a registry file: ``counsellors:``, a list of mappings. Every entry
    is checked; ids and addresses must be unique. ValueError names the file and entry."""
    path = Path(path)
    data = load_yaml(path)
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"counsellors"}:
        raise ValueError(f"{path}: expected one top-level key, 'counsellors:', a list")
    entries = data["counsellors"] or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'counsellors:' must be a list of mappings")
    counsellors = []
    for n, entry in enumerate(entries, 1):
        try:
            counsellors.append(Counsellor.from_mapping(entry))
        except ValueError as error:
            raise ValueError(f"{path}, entry {n}: {error}") from None
    try:
        check_unique(counsellors)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return counsellors


def check_unique(counsellors: Iterable[Counsellor]) -> None:
    """Ids and addresses are unique among ``counsellors`` (a file, or what an import
    writes): an inbound message's address must name one counsellor."""
    ids: set[str] = set()
    holders: dict[tuple[str, str], str] = {}
    for c in counsellors:
        if c.id in ids:
            raise ValueError(f"counsellor {c.id} is listed twice")
        ids.add(c.id)
        if c.address and (c.channel, c.address) in holders:
            other = holders[(c.channel, c.address)]
            raise ValueError(f"counsellors {other} and {c.id} have the same {c.channel} address")
        holders[(c.channel, c.address)] = c.id
