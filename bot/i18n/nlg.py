"""Rasa's response generator, reading every text from the catalogs.

Domain responses hold message keys, not sentences (``text: greet``); this generator picks
the response variation as Rasa would (channel, conditions), renders its text and button
titles in the conversation language, then fills ``{slot}`` placeholders. It is selected in
``endpoints.yml`` (``nlg: type: bot.i18n.nlg.CatalogNLG``) and runs inside the Rasa server.
"""

from __future__ import annotations

import copy
from typing import Any

from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot.i18n import Translator
from bot.i18n.language import LANGUAGE_SLOT

# Keyword an action uses to render with the slot values it is about to set.
SLOTS_KEYWORD = "slots"


def render_response(response: dict[str, Any], translate: Translator) -> dict[str, Any]:
    """A copy of a domain response with its text and button titles rendered."""
    rendered = copy.deepcopy(response)
    if rendered.get("text"):
        rendered["text"] = translate(rendered["text"])
    for button in rendered.get("buttons") or []:
        button["title"] = translate(button["title"])
    return rendered


class CatalogNLG(TemplatedNaturalLanguageGenerator):
    """Templated NLG whose templates are catalog keys."""

    # Uses Rasa internals (_random_response_for, _fill_response, how Rasa builds and calls
    # it): listed in bot.rasa_fixes.RASA_INTERNALS, guarded by tests/unit/test_rasa_internals.py.

    def __init__(self, endpoint_config: EndpointConfig | None = None, domain: Domain | None = None):
        super().__init__(domain.responses if domain else {})

    async def generate(
        self,
        utter_action: str,
        tracker: DialogueStateTracker,
        output_channel: str,
        **kwargs: Any,
    ) -> dict[str, Any] | None:
        """Render ``utter_action`` in the conversation language.

        An action's responses are rendered before its events are applied, so an action
        that is changing slots (the language, the part of an answer) passes their new
        values as ``slots={...}``; they win over the tracker's for this message.
        """
        overrides = kwargs.pop(SLOTS_KEYWORD, None) or {}
        filled_slots = {**tracker.current_slot_values(), **overrides}
        language = filled_slots.get(LANGUAGE_SLOT)
        response = self._random_response_for(utter_action, output_channel, filled_slots)
        if response is None:
            return None
        rendered = render_response(response, Translator(language))
        return self._fill_response(rendered, filled_slots, **kwargs)
