"""Privacy on SQLite and PostgreSQL: "forget me" over SMS and Telegram in the three languages
(in a handoff, with workshop places and an alert), the retention purge, the worker's lease,
and staff's export and erase commands.

The turns run through the real turn runner, relay, outbox and stand-ins; Rasa is replaced by
a handler that stores tracker events the way Rasa's SQL tracker store does (its ``events``
table beside our tables) and answers. Every check of "nothing left" scans every text column
of every table of ours and every event's JSON for her number, her pseudonym and her words.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot import schema
from bot.booking.models import BOOKED, WAITLISTED, Venue, Workshop, WorkshopSession
from bot.booking.service import BookingService
from bot.channels.contacts import Contact, ContactView
from bot.channels.inbound import ContactOutput, Inbound, TurnRunner
from bot.channels.leases import Leases
from bot.channels.messages import InboundMessage
from bot.db.base import utcnow
from bot.handoff.models import HandoffMessage
from bot.i18n import Translator
from bot.privacy import FORGET_ASK, FORGET_DONE, FORGET_KEPT, NOTICE, STAFF_ERASED
from bot.privacy.desk import PrivacyDesk
from bot.privacy.erase import ERASED, Eraser
from bot.privacy.purge import cutoff_for, purge
from bot.privacy.requests import PrivacyRequests
from bot.privacy.tracker import EVENTS, RasaEvents, tracker_engine
from bot.privacy.worker import PrivacyWorker
from bot.safety.models import SafetyAlert
from bot.settings import PrivacySettings
from tests.support.env import require_postgres
from tests.support.handoff import folded
from tests.support.relay import Parts, build, close_clients, fire_due
from tests.support.standins import StandIns

numbers = itertools.count(1)
REPLY = "Voici une reponse du service"  # what the stand-in for Rasa answers


@dataclass
class World:
    """One test's assistant without Rasa: the relay's parts, the runners, the desk."""

    parts: Parts
    engine: Engine
    events: RasaEvents
    runners: dict[str, TurnRunner]
    desk: PrivacyDesk
    seen: list[str]

    def say(self, channel: str, address: str, text: str | None = None, *,
            country: str = "PE", button: int | None = None) -> None:  # fmt: skip
        kind = "callback" if button is not None else "text"
        if text and text.startswith("/"):
            kind = "command"
        inbound = Inbound(channel, f"p{uuid.uuid4().hex[:12]}", address, kind, text=text,
                          country=country, button=button)  # fmt: skip
        runner = self.runners[channel]

        async def go() -> None:
            await runner.accept(inbound, self.rasa)
            await runner.drain()

        self.parts.run(go())

    async def rasa(self, message: UserMessage) -> None:
        """What Rasa would do with her message: store events (her words, the answer, a slot
        filled from her words) and answer."""
        self.seen.append(message.text or "")
        now = utcnow().timestamp()
        rows = [
            ("user", {"event": "user", "timestamp": now, "text": message.text,
                      "parse_data": {"text": message.text, "intent": {"name": "ask"},
                                     "entities": [{"entity": "city", "value": message.text}]}}),
            ("slot", {"event": "slot", "timestamp": now, "name": "country_answer",
                      "value": message.text}),
            ("bot", {"event": "bot", "timestamp": now, "text": REPLY, "data": {}}),
        ]  # fmt: skip
        with self.events.engine.begin() as connection:
            for kind, data in rows:
                connection.execute(insert(EVENTS).values(
                    sender_id=message.sender_id, type_name=kind, timestamp=now,
                    data=json.dumps(data)))  # fmt: skip
        await message.output_channel.send_text_message(message.sender_id, REPLY)

    def contact(self, channel: str, address: str) -> ContactView:
        found = self.parts.store.contact_by_id(self.parts.store.pseudonym(channel, address))
        assert found is not None
        return found


@pytest.fixture()
def world(isolated: Engine, standins: StandIns, tmp_path: Path) -> Iterator[World]:
    if isolated.dialect.name == "postgresql":  # Rasa's tracker on the real PostgreSQL too,
        # in the test's own schema
        mapping = isolated.get_execution_options()["schema_translate_map"]
        base = tracker_engine(require_postgres())
        tracker = base.execution_options(schema_translate_map=mapping)
    else:
        base = tracker = tracker_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    EVENTS.create(tracker, checkfirst=True)
    events = RasaEvents(tracker)
    parts = build(isolated, standins, parts_clock())
    relay, store = parts.relay, parts.store
    desk = PrivacyDesk(PrivacyRequests(isolated), store, relay.outbox, Eraser(isolated, events),
                       90, ended=relay.erased, delete_topic=relay.delete_topic)  # fmt: skip
    settings = standins.settings()
    runners = {
        channel: TurnRunner(channel, settings, store, relay.outbox,
                            lambda c=channel: ContactOutput(c, relay.outbox), gate=relay,
                            privacy=desk, leases=Leases(isolated, "test"))
        for channel in ("sms", "telegram")
    }  # fmt: skip
    yield World(parts, isolated, events, runners, desk, [])
    parts.run(close_clients(parts))
    parts.loop.close()
    base.dispose()


def parts_clock() -> Any:
    from tests.support.clock import ManualClock

    return ManualClock()


def new_address(channel: str, country: str) -> str:
    n = next(numbers) + 1000 * (os.getpid() % 1000)
    if channel == "telegram":
        return str(7_100_000_000 + n)
    prefix = {"PE": "+5190", "FR": "+336", "ML": "+22376"}[country]
    return f"{prefix}{n:07d}"


def received(world: World, channel: str, address: str) -> list[str]:
    """What she was sent (SMS bodies, Telegram texts), in order."""
    standins = world.parts.standins
    if channel == "sms":
        return [m["body"] for m in standins.twilio.messages if m["to"] == address]
    return [m["text"] for m in standins.telegram.sent if str(m["chat_id"]) == address]


def held_anywhere(world: World, needles: list[str]) -> list[str]:
    """Every table.column of ours (values as the code reads them, decrypted) and every tracker
    event that still holds one of ``needles``."""
    lowered = [n.lower() for n in needles if n]
    hits = []
    with world.engine.connect() as connection:
        for table in schema.metadata.sorted_tables:
            for row in connection.execute(select(table)).mappings():
                for column, value in row.items():
                    if value is not None and any(n in str(value).lower() for n in lowered):
                        hits.append(f"{table.name}.{column}")
    with world.events.engine.connect() as connection:
        for sender, data in connection.execute(select(EVENTS.c.sender_id, EVENTS.c.data)):
            text = f"{sender} {data}".lower()
            if any(n in text for n in lowered):
                hits.append("events")
    return sorted(set(hits))


def future_session(engine: Engine, capacity: int = 1) -> int:
    """A workshop session in three days, ``capacity`` seats."""
    now = utcnow()
    code = uuid.uuid4().hex[:8]
    with Session(engine, future=True) as session, session.begin():
        venue = Venue(code=f"v{code}", name="Centre Bamako", city="Bamako", country="ML",
                      timezone="Africa/Bamako", updated_at=now)  # fmt: skip
        workshop = Workshop(code=f"w{code}", topic="childbirth", facilitator_role="midwife",
                            languages="fr,es,bm", updated_at=now)  # fmt: skip
        session.add_all([venue, workshop])
        session.flush()
        row = WorkshopSession(code=f"s{code}", workshop_id=workshop.id, venue_id=venue.id,
                              starts_at=now + timedelta(days=3), duration_minutes=90,
                              capacity=capacity, booked_count=0, language="fr",
                              status="scheduled", updated_at=now)  # fmt: skip
        session.add(row)
        session.flush()
        return int(row.id)


CASES = [
    # channel, country, language, her forget word, her yes (text, or a Telegram button)
    ("sms", "FR", "fr", "Effacer !", "oui"),
    ("sms", "PE", "es", "borrar", "sii"),
    ("sms", "ML", "bm", "Jɔsi", "awo"),
    ("telegram", "FR", "fr", "/effacer", 1),
    ("telegram", "PE", "es", "BORRAR", "Si, claro"),
    ("telegram", "ML", "bm", "josi", 1),
]


@pytest.mark.parametrize(("channel", "country", "language", "word", "yes"), CASES)
def test_forget_me_erases_everything_she_left_and_ends_her_handoff(
    world: World, channel: str, country: str, language: str, word: str, yes: str | int
) -> None:
    address = new_address(channel, country)
    secret = f"mi secreto {uuid.uuid4().hex[:10]}"
    world.say(channel, address, f"hola {secret}", country=country)
    her = world.contact(channel, address)
    world.parts.store.set_language(her.id, language)
    translate = Translator(language)
    # Her first contact: the answer, then what is kept (in her country's language here).
    assert folded(received(world, channel, address)[-1]) == folded(Translator(
        "es" if country == "PE" else "fr")(NOTICE, days=90))

    # A seat in a full workshop (another woman waits), an alert, a handoff with a counsellor.
    service = BookingService(world.engine)
    session_id = future_session(world.engine)
    mine = service.book(session_id, her.id)
    other = service.book(session_id, "sms-someoneelse0000000000000")
    assert (mine.status, other.status) == (BOOKED, WAITLISTED)
    with Session(world.engine, future=True) as s, s.begin():
        s.add(SafetyAlert(conversation_id=her.id, category="violence", language=language))
    parts = world.parts
    handoff, _ = parts.service.request(her.id, "asked", language=language, channel=channel)
    parts.run(fire_due(parts))  # the staff group's topic is opened, counsellors told
    parts.service.claim(handoff.id, "moussa")
    world.say(channel, address, f"tengo miedo {secret}", country=country)
    with Session(world.engine, future=True) as s:
        assert s.scalar(select(func.count()).select_from(HandoffMessage)
                        .where(HandoffMessage.handoff_id == handoff.id)) >= 1  # fmt: skip
    topic = parts.service.get(handoff.id).topic_id
    assert topic is not None

    world.say(channel, address, word, country=country)
    asked = " ".join(received(world, channel, address)[-2:])  # SMS: the buttons may follow
    assert folded(translate(FORGET_ASK)) in folded(asked)
    assert world.contact(channel, address).erase_asked_at is not None
    if isinstance(yes, int):
        world.say(channel, address, button=yes, country=country)
    else:
        world.say(channel, address, yes, country=country)

    assert folded(received(world, channel, address)[-1]) == folded(translate(FORGET_DONE))
    assert held_anywhere(world, [address, her.id, secret, REPLY]) == []
    closed = parts.service.get(handoff.id)
    assert (closed.closed_at is not None, closed.outcome) == (True, "erased")
    staff = [m for m in parts.standins.telegram.sent if m["text"] == Translator("fr")(
        STAFF_ERASED, id=handoff.id)]  # fmt: skip
    assert staff, "the staff group is told the conversation ended at her request"
    assert not any(t["message_thread_id"] == topic for t in parts.standins.telegram.topics)
    promoted = service.booking(other.id)
    assert promoted is not None and promoted.status == BOOKED  # her seat went to the next
    gone = service.booking(mine.id)
    assert gone is not None and gone.status == "cancelled"
    assert gone.participant.startswith(ERASED)
    # Her tracker is gone; an alert keeps its category, the messages their kind and time.
    assert world.events.events(her.id) == []
    with Session(world.engine, future=True) as s:
        assert s.scalar(select(SafetyAlert.category).where(
            SafetyAlert.conversation_id == ERASED)) == "violence"  # fmt: skip
        assert s.scalar(select(func.count()).select_from(InboundMessage).where(
            InboundMessage.conversation_id == ERASED)) >= 4  # fmt: skip


def test_no_keeps_everything_and_danger_signs_are_never_an_answer(world: World) -> None:
    address = new_address("sms", "FR")
    world.say("sms", address, "bonjour", country="FR")
    her = world.contact("sms", address)
    world.say("sms", address, "EFFACER", country="FR")
    world.say("sms", address, "non", country="FR")
    assert folded(received(world, "sms", address)[-1]) == folded(Translator("fr")(FORGET_KEPT))
    assert world.contact("sms", address).erase_asked_at is None
    world.say("sms", address, "effacer", country="FR")
    world.seen.clear()
    world.say("sms", address, "non je veux mourir", country="FR")
    assert world.seen == ["non je veux mourir"], "her words go on to the turn (the safety check)"
    assert world.contact("sms", address).erase_asked_at is None
    assert world.parts.store.contact_by_id(her.id) is not None  # nothing erased


def test_a_yes_long_after_the_question_erases_nothing(world: World) -> None:
    address = new_address("sms", "PE")
    world.say("sms", address, "hola")
    her = world.contact("sms", address)
    world.say("sms", address, "BORRAR")
    with Session(world.engine, future=True) as s, s.begin():
        s.get(Contact, her.id).erase_asked_at = utcnow() - timedelta(hours=2)
    world.say("sms", address, "si")
    assert world.parts.store.contact_by_id(her.id) is not None
    assert world.seen[-1] == "si"  # an ordinary message again


def test_her_yes_cut_off_by_a_crash_is_done_by_the_recovery(world: World) -> None:
    """The process died while her "oui" was processing: the next instance erases her (the
    safety rule after a crash holds here too: the desk runs before the apology)."""
    address = new_address("sms", "FR")
    world.say("sms", address, "bonjour", country="FR")
    her = world.contact("sms", address)
    world.say("sms", address, "EFFACER", country="FR")
    store, runner = world.parts.store, world.runners["sms"]
    row = store.record_inbound("sms", f"SM{uuid.uuid4().hex}", her.id, "text", "oui")
    assert row is not None
    store.set_inbound_status(row, "processing")  # then the crash: no lease is held

    async def recover() -> int:
        runner.bind(world.rasa)
        return await runner.recover(utcnow() + timedelta(seconds=1))

    assert world.parts.run(recover()) == 0  # no apology: it was handled
    assert held_anywhere(world, [address, her.id]) == []
    assert folded(received(world, "sms", address)[-1]) == folded(Translator("fr")(FORGET_DONE))


def test_an_opted_out_user_is_erased_without_a_question(world: World) -> None:
    address = new_address("sms", "PE")
    world.say("sms", address, "hola")
    her = world.contact("sms", address)
    world.parts.store.set_opted_out(her.id, True)
    world.say("sms", address, "BORRAR")
    assert held_anywhere(world, [address, her.id]) == []


def test_the_privacy_word_tells_what_is_kept_in_every_state(world: World) -> None:
    address = new_address("telegram", "ML")
    world.say("telegram", address, "/privacy", country="ML")  # a first message: no turn
    world.say("telegram", address, "Gundo", country="ML")
    assert received(world, "telegram", address) == [Translator("fr")(NOTICE, days=90),
                                                    Translator("bm")(NOTICE, days=90)]
    assert world.seen == []


def test_purge_erases_texts_older_than_the_retention_everywhere(world: World) -> None:
    store, events = world.parts.store, world.events
    clock = world.parts.clock
    old, new = f"vieux {uuid.uuid4().hex[:8]}", f"neuf {uuid.uuid4().hex[:8]}"
    clock.now = utcnow() - timedelta(days=120)
    idle = store.contact("sms", new_address("sms", "FR"), country="FR")
    kept = store.contact("sms", new_address("sms", "FR"), country="FR")
    store.record_inbound("sms", f"SM{uuid.uuid4().hex}", idle.id, "text", f"{old} a")
    store.record_outbound(idle.id, "sms", f"{old} b")
    store.set_buttons(idle.id, [(f"{old} c", "/x")])
    handoff, _ = world.parts.service.request(kept.id, "asked", language="fr", channel="sms")
    world.parts.service.record(handoff.id, "user", f"{old} d")
    BookingService(world.engine).book(future_session(world.engine), kept.id)
    clock.now = utcnow()
    store.contact("sms", store.contact_by_id(kept.id).address)  # seen today
    store.record_inbound("sms", f"SM{uuid.uuid4().hex}", kept.id, "text", f"{new} a")
    store.record_outbound(kept.id, "sms", f"{new} b")
    then, now = (utcnow() - timedelta(days=120)).timestamp(), utcnow().timestamp()
    with events.engine.begin() as connection:
        for at, words in ((then, old), (now, new)):
            for kind, data in (
                ("user", {"event": "user", "text": words, "parse_data": {"text": words}}),
                ("bot", {"event": "bot", "text": f"{words} bot"}),
                ("slot", {"event": "slot", "name": "booking_session", "value": words}),
                ("slot", {"event": "slot", "name": "language", "value": "fr"}),
            ):
                connection.execute(insert(EVENTS).values(sender_id=idle.id, type_name=kind,
                                                         timestamp=at, data=json.dumps(data)))

    cutoff = cutoff_for(90)
    dry = purge(world.engine, events, cutoff, dry_run=True)
    assert dry == {"inbound_messages": 1, "outbound_messages": 1, "handoff_messages": 1,
                   "button_choices": 1, "safety_reviews": 0, "contacts": 1,
                   "tracker_events": 3}  # fmt: skip
    assert held_anywhere(world, [old]) != []  # a dry run changes nothing
    assert purge(world.engine, events, cutoff) == dry
    assert held_anywhere(world, [old]) == []
    assert set(held_anywhere(world, [new])) == {"events", "inbound_messages.text",
                                                "outbound_messages.text"}
    assert store.contact_by_id(idle.id) is None  # silent for 120 days, nothing to reach her
    assert store.contact_by_id(kept.id) is not None
    assert len(events.events(idle.id)) == 8  # every event kept: the tracker replays
    assert purge(world.engine, events, cutoff) == dict.fromkeys(dry, 0)


def test_one_instance_runs_the_privacy_round(world: World) -> None:
    settings = PrivacySettings()
    first, second = (PrivacyWorker(world.engine, world.events, Leases(world.engine, holder),
                                   settings) for holder in ("a:1", "b:2"))  # fmt: skip
    assert asyncio.run(first.round()) is not None
    assert asyncio.run(second.round()) is None
    assert asyncio.run(first.round()) is not None  # its holder goes on


def test_staff_export_and_erase(
    command_line: Callable[[str], Callable[..., tuple[int, str, str]]],
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from bot.db.database import engine_from_env
    from bot.settings import settings_from_env

    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRACKER_DB", str(tmp_path / "tracker.db"))
    monkeypatch.setenv("PSEUDONYM_KEY", "k" * 32)
    settings_from_env.cache_clear()
    privacy = command_line("privacy")
    assert privacy("purge", "--dry-run")[0] == 0  # an empty database, no tracker yet
    engine = engine_from_env()
    from bot.channels.store import ChannelStore

    store = ChannelStore(engine, b"k" * 32)
    her = store.contact("sms", "+22376000001", country="ML")
    store.record_inbound("sms", "SMexport1", her.id, "text", "une question tres privee")
    booking = BookingService(engine).book(future_session(engine), her.id)

    status, out, _ = privacy("export", booking.reference, "--out", str(tmp_path / "her.json"),
                             "--by", "amina")  # fmt: skip
    assert status == 0, out
    exported = tmp_path / "her.json"
    assert oct(exported.stat().st_mode & 0o777) == "0o600"
    held = json.loads(exported.read_text(encoding="utf-8"))
    assert held["contact"]["address"] == "+22376000001"
    assert held["messages_received"][0]["text"] == "une question tres privee"
    assert held["bookings"][0]["reference"] == booking.reference

    status, out, _ = privacy("erase", her.id, "--yes", "--no-message", "--by", "amina")
    assert status == 0, out
    assert store.contact_by_id(her.id) is None
    assert privacy("export", booking.reference)[0] == 1  # nobody under it any more
    audit = (tmp_path / "var" / "privacy-audit.log").read_text(encoding="utf-8")
    assert "export by='amina'" in audit and "erase by='amina'" in audit
    assert her.id not in audit and "+22376000001" not in audit and "privee" not in audit
    assert oct((tmp_path / "var" / "privacy-audit.log").stat().st_mode & 0o777) == "0o600"
