"""``python -m bot privacy new-key|rotate-data-keys|rotate-pseudonym-key``: the keys that
protect what we keep, rotated from a shell on the server (:mod:`bot.privacy.keys`).

The commands print counts, never a value, an address or a key, except ``new-key``, whose only
output is the new key (to paste into ``DATA_KEYS``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bot.db.crypto import DataKeyError, keyring_of, new_key
from bot.db.database import engine_from_env
from bot.privacy.keys import (
    BATCH,
    pending_reencryption,
    reencrypt,
    rotate_pseudonym_key,
    stale_contacts,
)
from bot.settings import StackSettings, settings_from_env

Handler = Callable[[argparse.Namespace, StackSettings], int]
MAX_PASSES = 100_000  # a bound, never reached: each pass leaves fewer values


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``new-key``, ``rotate-data-keys`` and ``rotate-pseudonym-key`` to ``commands``
    (the sub-parsers of ``python -m bot privacy``)."""
    commands.add_parser(
        "new-key", help="print a new data key (Fernet) to put first in DATA_KEYS"
    ).set_defaults(func=_new_key)
    rotate = commands.add_parser(
        "rotate-data-keys",
        help="re-encrypt every address and text with the first key of DATA_KEYS (plaintext "
        "ones too); then older keys may leave DATA_KEYS",
    )
    rotate.add_argument("--batch", type=int, default=BATCH, help=f"values per pass ({BATCH})")
    rotate.set_defaults(func=_rotate_data_keys)
    commands.add_parser(
        "rotate-pseudonym-key",
        help="re-key every contact's lookup hash to PSEUDONYM_KEY; then "
        "PSEUDONYM_KEYS_PREVIOUS may be emptied",
    ).set_defaults(func=_rotate_pseudonym_key)


def _new_key(args: argparse.Namespace, settings: StackSettings) -> int:
    print(new_key())
    return 0


def _rotate_data_keys(args: argparse.Namespace, settings: StackSettings) -> int:
    engine = engine_from_env()
    if keyring_of(engine.dialect) is None:
        print("privacy: DATA_KEYS is not set: nothing to encrypt with", file=sys.stderr)
        return 2
    total: dict[str, int] = {}
    try:
        for _ in range(MAX_PASSES):
            counts = reencrypt(engine, batch=max(args.batch, 1))
            for column, count in counts.items():
                total[column] = total.get(column, 0) + count
            if not any(counts.values()):
                break
        left = pending_reencryption(engine)
    except DataKeyError as error:
        print(f"privacy: {error}", file=sys.stderr)
        return 2
    for column in sorted(total):
        print(f"{column}: {total[column]} re-encrypted, {left.get(column, 0)} left")
    return 0 if not any(left.values()) else 1


def _rotate_pseudonym_key(args: argparse.Namespace, settings: StackSettings) -> int:
    privacy, key = settings_from_env().privacy, settings_from_env().channels.pseudonym_key
    if not key:
        print("privacy: PSEUDONYM_KEY is not set", file=sys.stderr)
        return 2
    engine = engine_from_env()
    try:
        changed = rotate_pseudonym_key(engine, key, privacy.previous_pseudonym_keys)
        stale = stale_contacts(engine, key)
    except (ValueError, DataKeyError) as error:
        print(f"privacy: {error}", file=sys.stderr)
        return 2
    print(f"{changed} contact(s) re-keyed to PSEUDONYM_KEY; {stale} still need an old key")
    if stale:
        print("Keep PSEUDONYM_KEYS_PREVIOUS: those contacts are found only through it (or "
              "wrote again under the new key as new contacts, leaving an older row).")  # fmt: skip
    else:
        print("PSEUDONYM_KEYS_PREVIOUS may now be emptied.")
    return 0
