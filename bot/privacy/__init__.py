"""Privacy a minor can rely on: what is kept, for how long, and erasing it on request.

Users are often minors writing about sex, pregnancy, drugs and violence. This package erases
message texts older than ``RETENTION_DAYS`` everywhere they sit (:mod:`.purge`), erases
everything held on one person when she asks ("forget me", :mod:`.erase` and :mod:`.desk`) or
when staff do it for her (:mod:`.cli`), tells her what is kept on first contact, and keeps
the keys that encrypt what remains (:mod:`.keys`). The words below are whole messages,
compared like the SMS opt-out words (:func:`bot.channels.optout.keyword`), in every state of
a conversation: with the bot, queued, with a counsellor, inside a form.
"""

from __future__ import annotations

from bot.i18n import N_

# "Forget me": erase everything held on her, after a yes. Bambara "jɔsi" (to wipe, erase):
# the writer's own knowledge, awaiting a native speaker (locales/bm/GLOSSARY.md).
FORGET_WORDS: dict[str, str | None] = {
    "EFFACER": "fr", "EFFACE": "fr", "OUBLIEMOI": "fr",
    "BORRAR": "es", "BORRA": "es", "OLVIDAME": "es",
    "JOSI": "bm",
    "ERASE": None, "DELETE": None,
}  # fmt: skip
# What is kept and for how long. Bambara "gundo" (secret, confidential: project data).
NOTICE_WORDS: dict[str, str | None] = {
    "CONFIDENTIALITE": "fr", "VIEPRIVEE": "fr", "MESDONNEES": "fr",
    "PRIVACIDAD": "es", "MISDATOS": "es",
    "GUNDO": "bm",
    "PRIVACY": None,
}  # fmt: skip

NOTICE = N_("privacy.notice")  # {days}: what is kept, how long, how to erase (one SMS)
FORGET_ASK = N_("privacy.forget_ask")  # what will be erased; 1 yes / 2 no
FORGET_YES = N_("privacy.forget_yes")  # the yes button
FORGET_NO = N_("privacy.forget_no")  # the no button
FORGET_DONE = N_("privacy.forget_done")  # the last message she gets
FORGET_KEPT = N_("privacy.forget_kept")  # she said no: nothing erased
STAFF_ERASED = N_("console.user_erased")  # {id}: she asked to be forgotten during a handoff

# The payload of the main menu's "my data" entry and of the NLU intent: the action asks.
FORGET_INTENT = "forget_me"
