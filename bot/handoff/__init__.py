"""Counsellor handoff: a person takes a conversation from the bot and gives it back.

``ownership`` (who owns it), ``service`` (handoffs, transcripts, timers), ``relay`` (the gate
before every turn, the consoles, the timers), ``registry`` (counsellors and their hours).
"""

# A whole message that asks for a person, in the words the answers teach ("ecris PARLER"):
# never left to the classifier. Compared with the normalised text (no accents, lower case).
KEYWORDS = frozenset({"parler", "hablar", "kuma"})
REQUEST_PAYLOAD = "/request_counsellor"
