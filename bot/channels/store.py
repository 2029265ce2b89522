"""What the SMS and Telegram channels keep: contacts, messages, delivery reports, buttons.

:class:`ChannelStore` is the one place that changes these rows, made of one part per kind of
row so that each stays small: :mod:`bot.channels.contacts`, :mod:`bot.channels.messages`,
:mod:`bot.channels.deliveries` and :mod:`bot.channels.buttons` (the tables are declared
there). Each method is one short transaction and stays correct on SQLite and PostgreSQL when
several server instances share the database: uniqueness is left to the database (a duplicate
insert fails and we re-read), and one-time claims are conditional UPDATEs whose row count
says who won.

The conversation id Rasa sees is a pseudonym (a keyed HMAC of the address); the phone number
or Telegram chat id lives only in ``contacts.address``. Addresses and message texts are
encrypted at rest with the engine's keyring (:mod:`bot.db.crypto`); a contact is found by a
keyed hash of her address, under the current pseudonym key or a previous one. Nothing here
logs an address or a message text.
"""

from __future__ import annotations

from bot.channels.buttons import Buttons
from bot.channels.contacts import Contacts
from bot.channels.deliveries import Deliveries
from bot.channels.messages import MessageLog


class ChannelStore(Contacts, MessageLog, Deliveries, Buttons):
    """The channels' rows, changed only here: the parts on one engine, one clock and one key.

    Args:
        engine: from :func:`bot.db.database.make_engine` (which creates the tables); kept as
            ``engine`` for services that keep their own tables beside these.
        key: the secret behind pseudonyms and address hashes (``PSEUDONYM_KEY``).
        clock: the time source (a fixed clock in tests).
        previous_keys: the keys ``key`` replaced, newest first (``PSEUDONYM_KEYS_PREVIOUS``):
            a returning user is still found, her conversation id unchanged.

    The constructor is that of :class:`~bot.channels.contacts.Contacts`, the one part that
    needs the key; it hands the engine and the clock on to the others' common base,
    :class:`~bot.channels.rows.ChannelRows`.
    """
