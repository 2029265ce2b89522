"""Encryption at rest of what would name or expose a young person: addresses and message texts.

Why: users are minors writing about sex, pregnancy, drugs and violence; a copied database
file, a backup or a stray ``SELECT`` must show neither a phone number nor a word of hers.

:class:`Keyring` holds the Fernet keys of ``DATA_KEYS`` (newest first: the first encrypts,
all decrypt, as :class:`cryptography.fernet.MultiFernet`). A stored value says which key
encrypted it::

    f1:<kid>:<fernet token>      kid = the first 8 hex characters of sha256(key)

so that re-encryption after a rotation finds the values still under an older key with a plain
``NOT LIKE 'f1:<newest kid>:%'``. A value not in that form is legacy plaintext (written before
encryption, or with no ``DATA_KEYS``): read as it is, and re-encrypted by
:func:`bot.privacy.keys.reencrypt`. ``None`` and ``""`` are stored as they are (queries compare
``text != ""``).

:class:`EncryptedText` is the column type: it encrypts on the way in and decrypts on the way
out with the keyring attached to the engine's dialect by :func:`attach_keyring`
(:func:`bot.db.database.make_engine`). No keyring: values are written in plaintext, and an
encrypted value cannot be read (:class:`DataKeyError`, which names ``DATA_KEYS``, never the
value). Never compare such a column with a value (``==``, ``LIKE``): the ciphertext of one
text differs at every write; contacts are found by a keyed hash instead
(``contacts.address_hash``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

__all__ = [
    "PREFIX",
    "DataKeyError",
    "EncryptedText",
    "Keyring",
    "attach_keyring",
    "is_encrypted",
    "key_id",
    "keyring_from",
    "keyring_of",
    "new_key",
    "reveal",
]

PREFIX = "f1:"  # the format's version: another scheme would take another prefix
_STORED = re.compile(r"f1:([0-9a-f]{8}):(gA[A-Za-z0-9_\-]+=*)\Z")  # a Fernet token starts gA
_ATTRIBUTE = "sante_keyring"  # where an engine's dialect carries its keyring


class DataKeyError(RuntimeError):
    """A stored value cannot be decrypted with ``DATA_KEYS``. The message names the setting
    and the key id, never the value."""


def new_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes), for ``DATA_KEYS``."""
    return Fernet.generate_key().decode("ascii")


def key_id(key: bytes) -> str:
    """What a stored value says of its key: 8 hex characters of its SHA-256 (32 bits tell
    the few keys of a keyring apart and reveal nothing usable of the key)."""
    return hashlib.sha256(key).hexdigest()[:8]


def is_encrypted(value: str) -> bool:
    """True for a value in the stored format (``f1:<kid>:<token>``), False for plaintext."""
    return _STORED.match(value) is not None


class Keyring:
    """The data keys, newest first: the first encrypts, all decrypt.

    Raises:
        ValueError: no key, or a key that is not a Fernet key (the message names
            ``DATA_KEYS``, never the key).
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("DATA_KEYS is empty: at least one Fernet key is required")
        fernets: dict[str, Fernet] = {}
        for position, key in enumerate(keys, start=1):
            try:
                fernet = Fernet(key)
            except (ValueError, TypeError):
                raise ValueError(
                    f"DATA_KEYS: key {position} is not a Fernet key (32 url-safe base64-encoded "
                    "bytes; `python -m bot privacy new-key` makes one)"
                ) from None
            fernets.setdefault(key_id(key), fernet)
        self.ids: tuple[str, ...] = tuple(fernets)  # newest first, each key once
        self.current: str = self.ids[0]
        self._fernets = fernets
        self._all = MultiFernet(list(fernets.values()))

    def encrypt(self, plain: str) -> str:
        """``plain`` under the newest key, in the stored format."""
        token = self._fernets[self.current].encrypt(plain.encode("utf-8")).decode("ascii")
        return f"{PREFIX}{self.current}:{token}"

    def decrypt(self, stored: str) -> str:
        """The plaintext of a stored value; a legacy plaintext value as it is."""
        match = _STORED.match(stored)
        if match is None:
            return stored
        kid, token = match.groups()
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise DataKeyError(
                f"a value was encrypted with data key {kid}, which is not in DATA_KEYS (keep "
                "every older key after the newest until `privacy rotate-data-keys` has run)"
            )
        try:
            return fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise DataKeyError(
                f"a value under data key {kid} does not decrypt with DATA_KEYS (wrong key or "
                "damaged value)"
            ) from None

    def is_current(self, stored: str) -> bool:
        """True when ``stored`` is under the newest key (nothing to re-encrypt)."""
        match = _STORED.match(stored)
        return match is not None and match.group(1) == self.current

    def reencrypt(self, stored: str) -> str:
        """``stored`` under the newest key: legacy plaintext encrypted, an older key's value
        decrypted and encrypted again (MultiFernet's rotation keeps the token's time)."""
        match = _STORED.match(stored)
        if match is None:
            return self.encrypt(stored)
        if match.group(1) == self.current:
            return stored
        self.decrypt(stored)  # an unknown key or a damaged value: the clear error
        token = self._all.rotate(match.group(2).encode("ascii")).decode("ascii")
        return f"{PREFIX}{self.current}:{token}"

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(ids={list(self.ids)})"


def keyring_from(keys: Sequence[bytes]) -> Keyring | None:
    """The keyring of ``DATA_KEYS``, or None when there is none (values stay plaintext)."""
    return Keyring(keys) if keys else None


def attach_keyring(engine: Any, keyring: Keyring | None) -> None:
    """Make ``engine``'s :class:`EncryptedText` columns use ``keyring`` (None: plaintext).
    On the dialect, which every connection and ``execution_options`` copy of it shares."""
    setattr(engine.dialect, _ATTRIBUTE, keyring)


def keyring_of(dialect: Any) -> Keyring | None:
    """The keyring attached to a dialect (:func:`attach_keyring`), or None."""
    found = getattr(dialect, _ATTRIBUTE, None)
    return found if isinstance(found, Keyring) else None


def reveal(stored: str, keyring: Keyring | None) -> str:
    """A stored value's plaintext; an encrypted one with no keyring is a clear error."""
    if keyring is not None:
        return keyring.decrypt(stored)
    if is_encrypted(stored):
        raise DataKeyError(
            "an encrypted value was read but DATA_KEYS is not set (give this process the "
            "same DATA_KEYS as the others)"
        )
    return stored


class EncryptedText(TypeDecorator):  # type: ignore[misc]  # SQLAlchemy 1.4 has no types
    """Text encrypted with the engine's keyring (:func:`attach_keyring`); ``None`` and ``""``
    stored as they are. Compare only with ``None`` and ``""``."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        keyring = keyring_of(dialect)
        return keyring.encrypt(value) if keyring is not None else value

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or value == "":
            return value
        return reveal(value, keyring_of(dialect))
