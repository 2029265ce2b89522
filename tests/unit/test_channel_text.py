"""Pure parts of the channels: cutting text, keywords, commands, Telegram updates."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from telegram import Update

from bot import LANGUAGES
from bot.channels.report import catalog_costs
from bot.channels.sms import (
    HOW_TO_STOP,
    OPTED_IN,
    OPTED_OUT,
    START_WORDS,
    STOP_WORDS,
    keyword,
    media_kind,
)
from bot.channels.telegram import command_payload, inbound_from_update
from bot.channels.text import TELEGRAM_LIMIT, numbered, sms_fits, split_text, telegram_fits
from bot.countries import country_of_phone
from bot.gsm7 import encode
from bot.i18n import Translator


def test_a_short_text_is_one_part() -> None:
    assert split_text("Bonjour !", sms_fits) == ["Bonjour !"]
    assert split_text("   ", sms_fits) == []


def test_long_text_is_cut_between_lines_and_sentences_never_inside() -> None:
    items = ["Questions de santé", "Ateliers", "Parler à une personne", "Langue"]
    menu = numbered("Première phrase assez longue. " * 4 + "Choisis un numéro :", items)
    parts = split_text(menu, sms_fits)
    assert len(parts) == 2
    assert all(encode(p).segments == 1 for p in parts)
    lines = [line for part in parts for line in part.split("\n")]
    assert lines[-4:] == [f"{i}. {item}" for i, item in enumerate(items, 1)]


def test_a_numbered_item_is_not_a_sentence_end() -> None:
    parts = split_text("a" * 150 + ".\n1. Un\n2. Deux", sms_fits)
    assert parts == ["a" * 150 + ".\n1. Un", "2. Deux"]


@given(st.text(min_size=0, max_size=3000))
def test_every_sms_part_is_one_segment_and_no_word_is_lost(text: str) -> None:
    parts = split_text(text, sms_fits)
    assert all(encode(p).segments == 1 for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=9000))
def test_telegram_parts_fit_4096(text: str) -> None:
    parts = split_text(text, telegram_fits)
    assert all(len(p) <= TELEGRAM_LIMIT for p in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


@pytest.mark.parametrize(
    ("text", "word"),
    [("STOP", "STOP"), ("Arrêt !", "ARRET"), ("baja", "BAJA"), (" Dabila. ", "DABILA"),
     ("arrete de m'ecrire", "ARRETEDEMECRIRE"), ("", "")],
)  # fmt: skip
def test_keywords_are_whole_messages_without_accents(text: str, word: str) -> None:
    assert keyword(text) == word


def test_country_from_the_phone_number() -> None:
    assert country_of_phone("+22376000000") == "ML"
    assert country_of_phone("+51987654321") == "PE"
    assert country_of_phone("+33612345678") == "FR"
    assert country_of_phone("+15550001111") is None


def test_media_kinds() -> None:
    assert media_kind({"NumMedia": "1", "MediaContentType0": "audio/amr"}) == "voice"
    assert media_kind({"NumMedia": "1", "MediaContentType0": "image/jpeg"}) == "media"
    assert media_kind({"NumMedia": "0"}) == "empty"
    assert media_kind({"NumMedia": "lots"}) == "empty"


def test_commands() -> None:
    assert command_payload("/start") == "/greet"
    assert command_payload("/start@SanteJeunesBot abc") == "/greet"
    assert command_payload("/help") == "/help"
    assert command_payload("/language").startswith('/choose_option{"menu": "main"')
    assert command_payload("/nimportequoi") == "/help"
    assert command_payload("/") == "/help"


def _update(message: dict[str, Any] | None = None, **extra: Any) -> Update:
    data: dict[str, Any] = {"update_id": 7, **extra}
    if message is not None:
        data["message"] = {"message_id": 1, "date": 0, **message}
    return Update.de_json(data, None)


PRIVATE = {"id": 42, "type": "private"}


def test_private_text_voice_photo_and_commands() -> None:
    text = inbound_from_update(_update({"chat": PRIVATE, "text": "hola"}))
    assert text and (text.kind, text.text, text.address, text.provider_id) == (
        "text", "hola", "42", "7")  # fmt: skip
    voice = inbound_from_update(_update({"chat": PRIVATE, "voice": {
        "file_id": "f", "file_unique_id": "u", "duration": 3}}))  # fmt: skip
    assert voice and voice.kind == "voice" and not voice.text
    photo = inbound_from_update(_update({"chat": PRIVATE, "caption": "c koi ca", "photo": [
        {"file_id": "f", "file_unique_id": "u", "width": 1, "height": 1}]}))  # fmt: skip
    assert photo and photo.kind == "media" and photo.text == "c koi ca"
    start = inbound_from_update(_update({"chat": PRIVATE, "text": "/start"}))
    assert start and start.payload == "/greet"


def test_words_after_a_command_are_her_message() -> None:
    """"/aide je veux mourir": the words reach the turn (and the safety check); a command
    alone stays a command; /start's words are a deep-link code, not a message."""
    cry = inbound_from_update(_update({"chat": PRIVATE, "text": "/aide je veux mourir"}))
    assert cry and (cry.kind, cry.text, cry.payload) == ("text", "je veux mourir", None)
    language = inbound_from_update(_update({"chat": PRIVATE, "text": "/idioma  espanol "}))
    assert language and (language.kind, language.text) == ("text", "espanol")
    alone = inbound_from_update(_update({"chat": PRIVATE, "text": "/aide"}))
    assert alone and (alone.kind, alone.payload) == ("command", "/help")
    deep_link = inbound_from_update(_update({"chat": PRIVATE, "text": "/start campagne42"}))
    assert deep_link and (deep_link.kind, deep_link.payload) == ("command", "/greet")


def test_groups_edits_and_foreign_callbacks_are_not_for_the_assistant() -> None:
    group = {"id": -100, "type": "supergroup", "title": "staff"}
    assert inbound_from_update(_update({"chat": group, "text": "salut"})) is None
    edited = {"message_id": 1, "date": 0, "chat": PRIVATE, "text": "x", "edit_date": 1}
    assert inbound_from_update(_update(edited_message=edited)) is None


def test_a_button_press_names_its_position() -> None:
    query = {"id": "q", "from": {"id": 42, "is_bot": False, "first_name": "A"},
             "chat_instance": "c", "data": "b:3",
             "message": {"message_id": 5, "date": 0, "chat": PRIVATE}}  # fmt: skip
    inbound = inbound_from_update(_update(callback_query=query))
    assert inbound and inbound.kind == "callback" and inbound.button == 3


@pytest.mark.parametrize("language", LANGUAGES)
def test_channel_messages_fit_one_or_two_segments(language: str) -> None:
    for key in ("channel.apology", "channel.rate_limited", "channel.opted_out",
                "channel.opted_in", "media"):  # fmt: skip
        assert encode(Translator(language)(key)).segments <= 2, key


def test_no_catalog_entry_costs_more_than_two_segments() -> None:
    """What `python -m bot sms-report` reports, as a test."""
    over = [(c.language, c.key, c.segments) for c in catalog_costs() if c.segments > 2]
    assert not over


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_keywords_the_catalogs_name_do_work(language: str) -> None:
    """A translation that tells a user to send a word must name a word the SMS channel knows:
    every capitalised keyword in the opt-out texts stops or restarts, in its own language."""
    texts = [Translator(language)(key) for key in (OPTED_OUT, OPTED_IN, HOW_TO_STOP)]
    words = {w for text in texts for w in re.findall(r"\b[A-Z]{4,}\b", text)}
    assert words, texts
    for word in words:
        assert keyword(word) in STOP_WORDS | START_WORDS, word
        assert (STOP_WORDS | START_WORDS)[keyword(word)] in (None, language), word
