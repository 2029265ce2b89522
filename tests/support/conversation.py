"""One user talking to the running stack over its REST channel, and what a response should
say: the domain's response keys, the greetings that set each language."""

from __future__ import annotations

import uuid
from typing import Any

import yaml

from bot import PROJECT_ROOT
from bot.i18n import Translator
from bot.launcher import LocalStack
from bot.safety import load_lexicon

DOMAINS = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in PROJECT_ROOT.glob("domain/*.yml")]
RESPONSE_KEYS = {
    name: variations[0]["text"]
    for domain in DOMAINS
    for name, variations in (domain.get("responses") or {}).items()
}
GREETINGS = {"fr": "bonjour", "es": "hola buenas", "bm": "i ni ce"}


class Conversation:
    """One user talking to the stack; remembers what it has seen."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.sender = f"test-{uuid.uuid4().hex[:10]}"
        self._seen = 0

    def say(self, text: str) -> list[dict[str, Any]]:
        return self.stack.send(self.sender, text)

    def tracker(self) -> dict[str, Any]:
        return self.stack.tracker(self.sender)

    def slot(self, name: str) -> Any:
        return self.tracker()["slots"].get(name)

    def new_bot_events(self) -> list[dict[str, Any]]:
        """The bot messages stored since the last call."""
        events = [e for e in self.tracker()["events"] if e["event"] == "bot"]
        new, self._seen = events[self._seen :], len(events)
        return new

    def expect(self, text: str, *responses: str, language: str) -> list[dict[str, Any]]:
        """Say ``text``; the bot answers with ``responses``, each in ``language``."""
        replies = self.say(text)
        events = self.new_bot_events()
        assert [e["metadata"].get("utter_action") for e in events] == list(responses), (
            text,
            [e["metadata"].get("utter_action") for e in events],
        )
        translate = Translator(language)
        for event, reply in zip(events, replies, strict=True):
            template = translate(RESPONSE_KEYS[event["metadata"]["utter_action"]])
            # Texts with placeholders are compared up to the first one.
            assert reply["text"].startswith(template.split("{")[0]), (text, reply, language)
            if "{" not in template:
                assert reply["text"] == template, (text, reply["text"], language)
        return replies


# Worrying messages without a risk word, per language: the first the current model finds
# `possible` is used (a new training may move one across a threshold; the next one then
# serves, and the fixture says when none is left).
WORRIES = {
    "fr": ["je suis dehors et il fait nuit, j'ai peur", "ce soir je sais pas ce que je vais faire",
           "je suis un poids pour tout le monde", "j'en ai marre de tout"],
    "es": ["nadie me quiere", "hoy duermo en la calle", "no me siento segura en mi casa"],
    "bm": ["n segenna ni fen bee ye", "n ye doni ye bɛɛ kun", "a ye n ka telefɔni ta",
           # From the risk list's dev half: DIET (trained anew each time) read the first as
           # `emergency` in one training, so more candidates keep the fixture stable.
           "n hakili ma sigi nin tile ninnu na",
           "n ko a ma siɲɛ caman ko n t'a fɛ, nka a ma dabila",
           "nin ye n ka cikan laban ye. i ni ce ko bɛɛ la"],
}


def worries(stack: LocalStack) -> dict[str, str]:
    """One `possible` message per language without a risk word, for the current model (the
    check-in tests, the states x triggers matrix); fails saying which language has none."""
    lexicon, found = load_lexicon(), {}
    for language, texts in WORRIES.items():
        for text in texts:
            parsed = stack.parse(text)
            if (lexicon.category(text) is None and parsed["language"] == language
                    and parsed["safety_level"] == "possible"):  # fmt: skip
                found[language] = text
                break
    assert set(found) == set(WORRIES), f"no `possible` message left in {set(WORRIES) - set(found)}"
    return found
