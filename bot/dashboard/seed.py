"""A synthetic, deterministic history of the service's raw rows, for the dashboard's tests
and benchmark (``python -m bot dashboard seed``): nobody's real conversations may serve.

Shaped like the programmes: Bamako's street youth in French or Bambara by SMS, Lima in
Spanish by SMS and Telegram, France's maternal centres booking workshops. Her words are a
few generic ones, the replies the catalog's texts cut as the channels cut them (true SMS
segments). One ``random.Random(plan.seed)``: two runs write the same rows (ciphertexts
aside). Executemany in batches, one transaction per database; seed an empty history.
"""

from __future__ import annotations

import functools
import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from itertools import accumulate
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection, Engine

import bot.booking.models as bk
from bot import PROJECT_ROOT
from bot.booking.notices import PROMOTED, REMINDER, SESSION_CANCELLED, BookingNotice
from bot.booking.schedule_file import VenueSpec, WorkshopSpec, load_schedule
from bot.channels.contacts import Contact, address_hash, pseudonym
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.channels.text import sms_fits, split_text, telegram_fits
from bot.gsm7 import encode
from bot.handoff.models import HandoffRow
from bot.handoff.registry import CounsellorRecord
from bot.handoff.registry_file import LOCAL_FILE, load_file
from bot.i18n import translations
from bot.privacy.tracker import EVENTS
from bot.safety import GENERAL, emergency_messages
from bot.safety.models import SafetyAlert
from bot.safety.risk import CLEAR, POSSIBLE

UTC = timezone.utc
BATCH = 5000  # rows per executemany
_S = timedelta(seconds=1)
_REMINDER_BEFORE = timedelta(hours=24)  # BookingSettings.reminder_before's default
_GIVE_UP = timedelta(minutes=20)  # HandoffSettings.give_up_after's: then "unclaimed"


@dataclass(frozen=True)
class SeedPlan:
    """How much history: ``users`` people over the ``weeks`` weeks before ``end``."""

    users: int
    weeks: int
    end: datetime  # aware UTC; the history covers [end - weeks*7 days, end)
    seed: int = 18


@dataclass(frozen=True, eq=False)  # hashed by identity: a key of COUNTRIES
class _Country:
    code: str
    languages: dict[str, int]  # weights
    channels: dict[str, int]
    zone: str
    phone: str  # a prefix no operator uses (France: ARCEP's numbers for fiction)
    digits: int
    bookers: float  # share of her users who book workshops


def _weights(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in (pair.split(":") for pair in text.split(","))}


COUNTRIES = {  # and their share of users
    _Country("ML", _weights("fr:60,bm:40"), _weights("sms:85,telegram:15"), "Africa/Bamako",
             "+2230", 7, 0.03): 45,
    _Country("PE", _weights("es:1"), _weights("sms:55,telegram:45"), "America/Lima", "+510", 8,
             0.04): 35,
    _Country("FR", _weights("fr:1"), _weights("telegram:60,sms:40"), "Europe/Paris",
             "+3363998", 4, 0.5): 20,
}  # fmt: skip
# What she asks outside the flows of `steps`; health first (contraception, pregnancy...).
TOPICAL = _weights("contraception:30,pregnancy:18,addiction:9,more:8,greet:6,thank:6,"
                   "nlu_fallback:5,about:3,goodbye:3,help:3,out_of_scope:3,my_bookings:1")
RETRIEVAL = ("about", "addiction", "contraception", "pregnancy")  # the ResponseSelector's
HEALTH = ("contraception", "pregnancy", "addiction")
# The catalog key of an intent's reply, when it is not the intent's name.
REPLIES = {"nlu_fallback": "fallback", "book_workshop": "booking.list",
           "choose_option": "booking.confirm", "my_bookings": "booking.mine",
           "request_counsellor": "handoff.queued", "safety_checkin": "safety.checkin",
           "safety_checkin_safe": "safety.checkin.safe"}
# Emergency categories (bot.safety's), as often as they come; how claimed handoffs end.
EMERGENCIES = _weights(f"violence:25,sexual_violence:20,suicide:18,obstetric:15,overdose:7,"
                       f"{GENERAL}:15")
OUTCOMES = _weights("resolved:45,referred:22,booked:8,no_answer:10,timeout:15")
_HOURS = tuple(range(7, 24))  # she writes from morning to late evening, most in the evening
_CUM_HOURS = tuple(accumulate((1, 2, 3, 3, 4, 4, 4, 4, 5, 5, 6, 7, 8, 8, 7, 5, 3)))
# Per language: what she types to a person, and a worry the risk model finds "possible".
SAID = {
    "fr": (("d'accord", "merci", "oui", "je sais pas"), "ça va pas fort, je dors plus"),
    "es": (("ok", "gracias", "si", "no se"), "estos dias me siento muy mal, no duermo"),
    "bm": (("awɔ", "i ni ce", "ayiwa", "n t'a dɔn"), "n hakili ma sigi, n tɛ se ka sunɔgɔ"),
}


# The fictional venues, workshops and counsellors the project ships as examples.
SCHEDULE = Path(bk.__file__).with_name("schedule.example.yml")
REGISTRY = LOCAL_FILE.with_name("counsellors.example.yml")
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # bot.booking.service's references
_FILL = {"workshop": "Allaitement", "place": "Paris", "when": "12/03 10:00",
         "reference": "K7Q2M", "numbers": "15 (SAMU)"}  # fmt: skip
Part = tuple[str, int | None, str | None]  # an outbound row's text, segments, encoding


@functools.lru_cache(maxsize=1)
def subtopics() -> dict[str, list[str]]:
    """The answers of each retrieval intent, as the domain's ``utter_<intent>/<sub>``."""
    keys = sorted(key[len("utter_"):] for path in (PROJECT_ROOT / "domain").glob("*.yml")
                  for key in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get(
                      "responses", {}) if "/" in key)  # fmt: skip
    return {i: [k.split("/")[1] for k in keys if k.startswith(f"{i}/")] or ["bot"]
            for i in RETRIEVAL}


@functools.cache
def _parts(language: str, key: str, channel: str) -> tuple[Part, ...]:
    """A catalog text as the channel sends it (placeholders filled with samples)."""
    text = translations(language).gettext(key)
    if text == key:  # an answer with no ".more"
        text = translations(language).gettext("health.more_none")
    return _cut(re.sub(r"\{(\w+)\}", lambda m: _FILL.get(m.group(1), "2"), text), channel)


@functools.cache
def _cut(text: str, channel: str) -> tuple[Part, ...]:
    """SMS in one-segment parts, GSM-7 or UCS-2 (bot.channels.outbound); Telegram whole."""
    if channel != "sms":
        return tuple((part, None, None) for part in split_text(text, telegram_fits))
    coded = (encode(part) for part in split_text(text, sms_fits))
    return tuple((c.text, c.segments, c.encoding) for c in coded)


@dataclass
class _User:
    id: str
    channel: str
    language: str
    country: str | None  # None: a Telegram user who never said
    home: _Country
    seen: datetime  # her last message
    last: str = ""  # the last health answer's key (for "more")


@dataclass
class _Session:
    code: str
    venue: str
    workshop: str
    country: str
    language: str
    starts: datetime
    capacity: int
    cancel_at: datetime | None
    requests: list[tuple[datetime, _User, datetime | None]] = field(default_factory=list)


class _Seeder:
    """One run: the random source, the rows waiting for their executemany, the counts."""

    def __init__(self, plan: SeedPlan, db: Connection, tracker: Connection) -> None:
        self.plan, self.db, self.tracker = plan, db, tracker
        self.rng = random.Random(plan.seed)
        self.end = plan.end.astimezone(UTC)
        self.start = self.end - timedelta(weeks=plan.weeks)
        self.key = f"dashboard-seed-{plan.seed}".encode()  # pseudonyms and address hashes
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.tables: dict[str, Table] = {}
        self.counts: dict[str, int] = {}
        self.drawn: dict[str, int] = {}  # addresses and references
        self.provider = self.rng.randrange(10**9)
        self.sessions: list[_Session] = []
        self.workshops: tuple[WorkshopSpec, ...] = ()
        self.subtopics = subtopics()
        self.counsellors = load_file(REGISTRY)

    def add(self, table: Table, row: dict[str, Any]) -> None:
        """Queue a row; a full batch goes in at once."""
        self.tables[table.name] = table
        rows = self.rows.setdefault(table.name, [])
        rows.append(row)
        if len(rows) >= BATCH:
            self.flush(table.name)

    def flush(self, name: str | None = None) -> None:
        """Insert the queued rows of one table, or of all."""
        for table_name in [name] if name else list(self.rows):
            rows = self.rows.pop(table_name, [])
            if rows:
                target = self.tracker if table_name == EVENTS.name else self.db
                target.execute(insert(self.tables[table_name]), rows)
                self.counts[table_name] = self.counts.get(table_name, 0) + len(rows)

    def ids(self, table: Table, key: str, values: Sequence[str]) -> dict[str, int]:
        """Row ids by a unique key, in chunks (SQLite's limit on variables)."""
        found: dict[str, int] = {}
        for i in range(0, len(values), 500):
            query = select(table.c[key], table.c.id).where(table.c[key].in_(values[i:i + 500]))
            found.update({k: int(v) for k, v in self.db.execute(query)})
        return found

    def pick(self, weights: Mapping[Any, int]) -> Any:
        return self.rng.choices(list(weights), list(weights.values()))[0]

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def after(self, at: datetime, low: float, high: float) -> datetime:
        return at + timedelta(seconds=self.rng.uniform(low, high))

    def at_hour(self, day: date, zone: str) -> datetime:
        """A moment of ``day`` when she is awake, on her wall clock, in UTC."""
        hour = self.rng.choices(_HOURS, cum_weights=_CUM_HOURS)[0]
        local = datetime.combine(day, time(hour, self.rng.randrange(60), self.rng.randrange(60)))
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)

    def provider_id(self, channel: str) -> str:
        """A Twilio MessageSid, or a Telegram update or message id."""
        self.provider += 1
        return f"SM{self.rng.getrandbits(128):032x}" if channel == "sms" else str(self.provider)

    def unique(self, space: str, size: int) -> int:
        """The next number of ``space`` in [0, size), never the same twice (a prime stride)."""
        self.drawn[space] = self.drawn.get(space, self.rng.randrange(size)) + 7919
        return self.drawn[space] % size

    def fixed(self) -> None:
        """The example counsellors, venues and workshops not there yet; the sessions."""
        schedule, at = load_schedule(SCHEDULE), self.start
        for table, key, rows in (
            (CounsellorRecord.__table__, "id", [asdict(c) | {
                "languages": ",".join(c.languages), "hours": str(c.hours), "active": True,
                "updated_at": at} for c in self.counsellors]),
            (bk.Venue.__table__, "code", [asdict(v) | {"updated_at": at} for v in schedule.venues]),
            (bk.Workshop.__table__, "code", [asdict(w) | {"languages": ",".join(w.languages),
                                             "updated_at": at} for w in schedule.workshops]),
        ):  # fmt: skip
            have = set(self.db.scalars(select(table.c[key])))
            for row in (r for r in rows if r[key] not in have):
                self.add(table, row)
        self.flush()
        self.workshops = schedule.workshops
        for venue in schedule.venues:
            self.schedule(venue)
        self.sessions.sort(key=lambda s: (s.starts, s.code))

    def schedule(self, venue: VenueSpec) -> None:
        """France weekly (more as users grow), Bamako and Lima fortnightly, to end + 3 weeks."""
        rng, country, turn = self.rng, venue.country, self.rng.randrange(6)
        every, weekly = (1, min(3, 1 + self.plan.users // 2000)) if country == "FR" else (2, 1)
        monday = (self.start - timedelta(days=self.start.weekday())).date()
        for n, (week, day) in enumerate((w, d) for w in range(0, self.plan.weeks + 4, every)
                                        for d in sorted(rng.sample(range(5), weekly))):
            local = datetime.combine(monday + timedelta(weeks=week, days=day), time(10))
            starts = local.replace(tzinfo=ZoneInfo(venue.timezone)).astimezone(UTC)
            language = {"FR": "fr", "PE": "es"}.get(country) or rng.choice(("bm", "fr"))
            offered = [w.code for w in self.workshops if language in w.languages]
            workshop = offered[(n + turn) % len(offered)]
            cancel = self.after(starts, -96 * 3600, -12 * 3600)  # 3 %: called off days before
            cancel_at = cancel if self.chance(0.03) and cancel < self.end else None
            capacity = rng.randint(6, 12) if country == "FR" else rng.randint(10, 18)
            code = f"{venue.code}-{workshop}-{local:%Y%m%d}-{self.plan.seed}"  # unique
            if self.start <= starts < self.end + timedelta(weeks=3):
                self.sessions.append(_Session(code, venue.code, workshop, country, language,
                                              starts, capacity, cancel_at))  # fmt: skip

    def user(self) -> None:
        """One person: her contact, her messages and what they led to."""
        home = self.pick(COUNTRIES)
        channel, language = self.pick(home.channels), self.pick(home.languages)
        address = (f"{home.phone}{self.unique(home.phone, 10**home.digits):0{home.digits}d}"
                   if channel == "sms" else str(10**9 + self.unique("tg", 9 * 10**9)))
        country = None if channel == "telegram" and self.chance(0.15) else home.code
        times = self.times(home)
        u = _User(pseudonym(self.key, channel, address), channel, language, country, home,
                  times[0])  # fmt: skip
        relay_until = self.start
        for index, (at, intent, action) in enumerate(self.steps(u, times)):
            if at >= self.end:
                break
            if at < relay_until:  # a person holds the conversation: relayed, no turn
                self.inbound(u, at, "text", self.rng.choice(SAID[language][0]), "relayed")
                continue
            if index == 0:
                self.outbound(u, at + _S, "privacy.notice")
            relay_until = max(relay_until, self.turn(u, at, intent, action))
        self.add(Contact.__table__, {
            "id": u.id, "channel": channel, "address": address, "country": country,
            "language": language, "opted_out": False, "created_at": times[0],
            "last_seen_at": u.seen, "privacy_notice_at": times[0],
            "address_hash": address_hash(self.key, channel, address)})  # fmt: skip

    def times(self, home: _Country) -> list[datetime]:
        """She joins (more later: it grows), writes 1-8 a week for 1-3 weeks, may come back."""
        rng = self.rng
        joined = self.start + (self.end - self.start) * rng.random() ** 0.8
        first = self.at_hour(joined.astimezone(ZoneInfo(home.zone)).date(), home.zone)
        first = min(max(first, self.start), self.end - _S)
        weeks = list(range(self.pick({1: 55, 2: 28, 3: 17})))
        if self.chance(0.25):
            back = weeks[-1] + rng.randint(3, 16)
            weeks += [back, back + 1][: rng.randint(1, 2)]
        found = [first]
        for week in weeks:
            for _ in range(rng.choices(range(1, 9), (22, 20, 16, 12, 10, 8, 7, 5))[0]):
                day = (first + timedelta(days=7 * week + rng.randrange(7))).date()
                at = self.at_hour(day, home.zone)
                if first < at < self.end:
                    found.append(at)
        return sorted(found)

    def steps(self, u: _User, times: list[datetime]) -> list[tuple[datetime, str, str]]:
        """Her messages (when, intent, action): mostly questions; at a few, a flow."""
        rng, chance = self.rng, self.chance
        flows: list[list[tuple[float, str, str]]] = []
        for _ in range(rng.randint(1, 4 if u.home.code == "FR" else 2)
                       if chance(u.home.bookers) else 0):  # fmt: skip
            flows.append([(0, "book_workshop", ""), (rng.uniform(30, 120), "choose_option", ""),
                          (rng.uniform(20, 90), "choose_option", "book")])  # fmt: skip
        if chance(0.03):
            flows.append([(0, "emergency", "")])
        if chance(0.025):  # a worry: the check-in, "1" (safe) or "2" (an emergency)
            flows.append([(0, "safety_checkin", "possible"), (rng.uniform(30, 300), self.pick(
                {"safety_checkin_safe": 8, "emergency": 2}), "")])  # fmt: skip
        if chance(0.06):
            flows.append([(0, "request_counsellor", "asked")])
        if chance(0.015):
            flows.append([(0, "nlu_fallback", ""), (rng.uniform(20, 120), "nlu_fallback",
                                                    "not_understood")])  # fmt: skip
        where = rng.sample(range(len(times)), min(len(flows), len(times)))
        steps = []
        for index, flow in zip(where, flows[: len(where)], strict=True):
            at = times[index]
            for gap, intent, action in flow:
                at += timedelta(seconds=gap)
                steps.append((at, intent, action))
        for index, at in enumerate(times):  # words, or a photo or voice note ("/media")
            intent = "greet" if not index and chance(0.45) else self.pick(TOPICAL)
            steps += [] if index in where else [(at, "media" if chance(0.04) else intent, "")]
        return sorted(steps)

    def turn(self, u: _User, at: datetime, intent: str, action: str) -> datetime:
        """Her message and all it leads to; until when a person holds the conversation."""
        lang = u.language
        key = f"{intent}/{self.rng.choice(self.subtopics[intent])}" if intent in RETRIEVAL else ""
        # Short generic words, nobody's: the subject of her question, or a word of SAID.
        said = {"safety_checkin": SAID[lang][1], "safety_checkin_safe": "1"}.get(intent)
        text = None if intent == "media" else key.split("/")[1].replace("_", " ") if key else (
            said or self.rng.choice(SAID[lang][0]))  # fmt: skip
        message_id = f"{u.channel}-{self.inbound(u, at, 'text' if text else 'media', text, 'done')}"
        level = POSSIBLE if action == "possible" else CLEAR if intent == "emergency" else "none"
        category = self.pick(EMERGENCIES) if intent == "emergency" else None
        self.events(u, at, text or "/media", intent, key, level, category, message_id)
        reply_at, until = self.after(at, 1, 4), at
        if category is not None:
            self.alert(u, at, category, CLEAR)
            for n, line in enumerate(emergency_messages(category, lang, u.country)):
                self.outbound(u, reply_at + n * _S, line, literal=True)
            return self.handoff(u, reply_at, "emergency") if self.chance(0.75) else at
        if action == "possible":
            self.alert(u, at, GENERAL, POSSIBLE)
        elif action in ("asked", "not_understood"):
            until = self.handoff(u, reply_at, action)
        elif action == "book":
            self.request(u, at)
        reply = key.replace("/", ".") or REPLIES.get(intent, intent)
        if intent in HEALTH:
            u.last = reply
        elif intent == "more":  # the rest of her last answer, if it has one
            reply = f"{u.last}.more" if u.last else "health.more_none"
        self.outbound(u, reply_at, "fallback_counsellor" if action == "not_understood" else reply)
        return until

    def inbound(self, u: _User, at: datetime, kind: str, text: str | None, status: str) -> str:
        """Her message as the provider delivered it; its provider id."""
        provider_id = self.provider_id(u.channel)
        u.seen = max(u.seen, at)
        self.add(InboundMessage.__table__, {
            "channel": u.channel, "provider_id": provider_id, "conversation_id": u.id,
            "kind": kind, "text": text, "received_at": at, "status": status})  # fmt: skip
        return provider_id

    def outbound(self, u: _User, at: datetime, key: str, literal: bool = False) -> None:
        """A catalog text (or ``literal`` words) sent, a row per SMS part (bot.channels)."""
        parts = _cut(key, u.channel) if literal else _parts(u.language, key, u.channel)
        for n, (text, segments, encoding) in enumerate(parts):
            roll, created = self.rng.random(), at + n * _S
            status = "sent" if u.channel != "sms" else "delivered" if roll < 0.93 else (
                "sent" if roll < 0.96 else "undelivered" if roll < 0.98 else "failed")
            self.add(OutboundMessage.__table__, {
                "conversation_id": u.id, "channel": u.channel, "text": text,
                "provider_id": None if status == "failed" else self.provider_id(u.channel),
                "status": status, "segments": segments, "encoding": encoding,
                "error_code": {"undelivered": "30003", "failed": "30005"}.get(status),
                "created_at": created, "updated_at": self.after(created, 1, 20)})  # fmt: skip

    def events(self, u: _User, at: datetime, text: str, intent: str, key: str, level: str,
               category: str | None, message_id: str) -> None:  # fmt: skip
        """Her ``user`` event as Rasa 3.6's SQLTrackerStore stores it, parsed as ours parses."""
        rng = self.rng
        stamp = at.timestamp() + rng.uniform(0.05, 0.4)
        parse: dict[str, Any] = {"text": text, "entities": [], "intent": {
            "name": intent, "confidence": round(rng.uniform(0.55, 0.99), 4)}}
        if not text.startswith("/"):  # a payload skips the NLU pipeline
            chosen = key or f"contraception/{rng.choice(self.subtopics['contraception'])}"
            score = round(rng.uniform(0.6, 0.99) if key else rng.uniform(0.1, 0.5), 4)
            risk = round(rng.uniform(0.62, 0.86) if level == POSSIBLE else rng.uniform(0, 0.3), 4)
            parse.update({
                "response_selector": {"all_retrieval_intents": list(RETRIEVAL), "default": {
                    "response": {"responses": [{"text": chosen.replace("/", ".")}],
                                 "confidence": score, "intent_response_key": chosen,
                                 "utter_action": f"utter_{chosen}"},
                    "ranking": [{"confidence": score, "intent_response_key": chosen}]}},
                "language": u.language,
                "risk": {"score": risk, "level": POSSIBLE if level == POSSIBLE else "none"}})
            if level == POSSIBLE:  # what she asked, answered by the check-in
                parse["risk"]["intent"] = self.pick({i: TOPICAL[i] for i in HEALTH})
            if intent in RETRIEVAL:  # Rasa looks under response_selector[intent]: not there
                parse["intent"]["full_retrieval_intent_name"] = None
        by = "lexicon" if category != GENERAL else "model"  # the model names no category
        parse.update({"safety_level": level} | ({"safety": {"category": category, "by": by}}
                                                if category else {}))  # fmt: skip
        user = {"event": "user", "timestamp": stamp, "text": text, "parse_data": parse,
                "input_channel": u.channel, "message_id": message_id, "metadata": {}}
        self.add(EVENTS, {"sender_id": u.id, "type_name": "user", "timestamp": stamp,
                          "intent_name": intent, "action_name": None, "data": json.dumps(user)})

    def alert(self, u: _User, at: datetime, category: str, level: str) -> None:
        """An emergency (her numbers seconds later, mostly) or a check-in (no numbers)."""
        created, reviewed = self.after(at, 0.2, 1.5), self.after(at, 3600, 72 * 3600)
        self.add(SafetyAlert.__table__, {
            "conversation_id": u.id, "category": category, "language": u.language,
            "country": u.country, "needs_handoff": level == CLEAR, "created_at": created,
            "reviewed_at": reviewed if self.chance(0.8) and reviewed < self.end else None,
            "level": level, "numbers_at": self.after(at, 2, 9)
            if level == CLEAR and self.chance(0.88) else None})  # fmt: skip

    def handoff(self, u: _User, at: datetime, reason: str) -> datetime:
        """A request for a person (claimed soon if a speaker of hers is at work); its end."""
        rng, priority = self.rng, reason == "emergency"
        speakers = [c for c in self.counsellors if u.language in c.languages]
        on_duty = [c for c in speakers if c.hours.is_open(at)]
        claimed, counsellor = None, None
        if speakers and self.chance(0.92 if on_duty else 0.12):
            pool = on_duty or speakers
            counsellor = rng.choice([c for c in pool if c.timezone == u.home.zone] or pool).id
            wait = min(rng.lognormvariate(math.log(100 if priority else 240), 0.8), 1140)
            claimed = at + timedelta(seconds=wait)
        closed: datetime | None = self.after(claimed, 300, 3600) if claimed else at + _GIVE_UP
        outcome: str | None = self.pick(OUTCOMES) if claimed else "unclaimed"
        if closed is not None and closed >= self.end:  # still open at the end
            closed = outcome = None
            if claimed is not None and claimed >= self.end:
                claimed = counsellor = None
        self.add(HandoffRow.__table__, {
            "conversation_id": u.id, "language": u.language, "channel": u.channel,
            "reason": reason, "priority": priority, "opened_at": at, "claimed_at": claimed,
            "closed_at": closed, "counsellor_id": counsellor, "outcome": outcome,
            "last_activity_at": closed or claimed or at})  # fmt: skip
        if claimed is not None:  # her messages go to the counsellor
            self.outbound(u, claimed, "handoff.joined")
            for _ in range(rng.randint(1, 3)):
                said = claimed + ((closed or self.end) - claimed) * rng.random()
                self.inbound(u, said, "text", rng.choice(SAID[u.language][0]), "relayed")
        if closed is not None:
            self.outbound(u, closed, "handoff.back_to_bot" if claimed else "handoff.nobody_free")
        return closed or self.end

    def request(self, u: _User, at: datetime) -> None:
        """She chose a session of her country 1 to 21 days ahead; one in ten will cancel."""
        ahead = [s for s in self.sessions if s.country == u.home.code
                 and timedelta(days=1) < s.starts - at < timedelta(days=21)
                 and (s.cancel_at is None or s.cancel_at > at)
                 and all(who is not u for _, who, _ in s.requests)]  # once per session
        mine = [s for s in ahead if s.language == u.language] or ahead
        if mine:
            chosen = self.rng.choice(mine[:5])
            cancel = at + (chosen.starts - at) * self.rng.uniform(0.1, 0.95)
            chosen.requests.append((at, u, cancel if self.chance(0.1) else None))

    def bookings(self) -> None:
        """The sessions, their bookings, then the bookings' notices (which need their ids)."""
        venues = self.ids(bk.Venue.__table__, "code", sorted({s.venue for s in self.sessions}))
        workshops = self.ids(bk.Workshop.__table__, "code", [w.code for w in self.workshops])
        plans = []
        for s in self.sessions:
            rows, notices = self.seats(s)
            plans.append((s, rows, notices))
            self.add(bk.WorkshopSession.__table__, {
                "code": s.code, "workshop_id": workshops[s.workshop], "venue_id": venues[s.venue],
                "starts_at": s.starts, "duration_minutes": 120, "capacity": s.capacity,
                "booked_count": sum(r["status"] in bk.SEATED for r in rows),
                "language": s.language, "status": bk.CANCELLED if s.cancel_at else bk.SCHEDULED,
                "updated_at": s.cancel_at or self.start})  # fmt: skip
        self.flush()
        sessions = self.ids(bk.WorkshopSession.__table__, "code", [s.code for s in self.sessions])
        for s, rows, _ in plans:
            for row in rows:
                self.add(bk.Booking.__table__, {**row, "session_id": sessions[s.code]})
        self.flush()
        ids = self.ids(bk.Booking.__table__, "reference",
                       [r["reference"] for _, rows, _ in plans for r in rows])  # fmt: skip
        for _, rows, notices in plans:  # sent when due (and told her), obsolete if she
            cancelled = {r["reference"]: r["cancelled_at"] for r in rows}  # cancelled first
            for reference, kind, due, u in notices:
                sent, outcome = None, None  # due after ``end``: pending
                if kind == REMINDER and (cancelled[reference] or due) < due:
                    sent, outcome = cancelled[reference], "obsolete"
                elif due < self.end:
                    sent, outcome = self.after(due, 2, 90), "sent"
                    self.outbound(u, sent, f"booking.{kind}")
                self.add(BookingNotice.__table__, {"booking_id": ids[reference], "kind": kind,
                                                   "due_at": due, "sent_at": sent,
                                                   "outcome": outcome})  # fmt: skip

    def seats(self, s: _Session) -> tuple[list[dict[str, Any]], list[Any]]:
        """Replay a session as bot.booking.seats would: its bookings' rows and notices."""
        requests = sorted(s.requests, key=lambda r: r[0])
        people = [who for _, who, _ in requests]
        rows: list[dict[str, Any]] = [{
            "participant": who.id, "status": bk.WAITLISTED, "joined_at": at, "created_at": at,
            "updated_at": at, "cancelled_at": None, "reference": self.reference(),
        } for at, who, _ in requests]  # fmt: skip
        timeline = [(at, 0, n) for n, (at, _, _) in enumerate(requests)]
        timeline += [(c, 1, n) for n, (_, _, c) in enumerate(requests) if c and c < self.end]
        timeline += [(s.cancel_at, 2, -1)] if s.cancel_at else []
        notices: list[tuple[str, str, datetime, _User]] = []  # reference, kind, due, whom

        def seat(n: int, at: datetime) -> None:
            rows[n].update(status=bk.BOOKED, updated_at=at)
            if s.starts - _REMINDER_BEFORE > at:  # seats.remind: unless that moment passed
                notices.append((rows[n]["reference"], REMINDER, s.starts - _REMINDER_BEFORE,
                                people[n]))  # fmt: skip

        free, waiting = s.capacity, []
        for at, what, n in sorted(timeline):
            if what == 0 and free:
                free -= 1
                seat(n, at)
            elif what == 0:
                waiting.append(n)
            elif what == 1 and rows[n]["status"] in bk.ACTIVE:
                if rows[n]["status"] == bk.WAITLISTED:
                    waiting.remove(n)
                elif waiting:  # her seat to the first waiting
                    notices.append((rows[waiting[0]]["reference"], PROMOTED, at,
                                    people[waiting[0]]))  # fmt: skip
                    seat(waiting.pop(0), at)
                else:
                    free += 1
                rows[n].update(status=bk.CANCELLED, cancelled_at=at, updated_at=at)
            elif what == 2:
                for m, row in enumerate(rows):
                    if row["status"] in bk.ACTIVE:
                        row.update(status=bk.CANCELLED, cancelled_at=at, updated_at=at)
                        notices.append((row["reference"], SESSION_CANCELLED, at, people[m]))
        marked = s.starts + timedelta(hours=self.rng.uniform(3, 48))  # by the facilitator
        for row in (r for r in rows if r["status"] == bk.BOOKED and marked < self.end):
            row.update(status=bk.ATTENDED if self.chance(0.78) else bk.NO_SHOW, updated_at=marked)
        return rows, notices

    def reference(self) -> str:
        """Five characters of bot.booking.service's alphabet, a new number each time."""
        number = self.unique("reference", 32**5)
        return "".join(_ALPHABET[(number >> (5 * i)) & 31] for i in range(5))


def seed(engine: Engine, events: Engine, plan: SeedPlan) -> dict[str, int]:
    """Insert the history; returns rows inserted per table."""
    if plan.end.utcoffset() is None or plan.users < 0 or plan.weeks < 1:
        raise ValueError("a SeedPlan needs users >= 0, weeks >= 1 and an aware end")
    with engine.begin() as db, (  # one database (a SQLite file): one connection
        nullcontext(db) if events.url == engine.url else events.begin()
    ) as tracker:
        EVENTS.create(tracker, checkfirst=True)
        seeder = _Seeder(plan, db, tracker)
        seeder.fixed()
        for _ in range(plan.users):
            seeder.user()
        seeder.flush()
        seeder.bookings()
        seeder.flush()
    return dict(sorted(seeder.counts.items()))
