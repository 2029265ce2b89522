"""The data keyring (``bot.db.crypto``): the stored format names its key, the newest key
encrypts, every key decrypts, and a missing or wrong key is an error that names DATA_KEYS and
never shows the value."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.db.crypto import (
    DataKeyError,
    EncryptedText,
    Keyring,
    is_encrypted,
    key_id,
    keyring_from,
    new_key,
    reveal,
)
from bot.launcher import local_data_key

SECRET = "+22376123456 je suis enceinte"


class Dialect:
    """What EncryptedText reads of an engine: the keyring attached to its dialect."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.sante_keyring = keyring


def test_the_stored_format_names_the_key() -> None:
    key = new_key().encode()
    stored = Keyring([key]).encrypt(SECRET)
    match = re.fullmatch(r"f1:([0-9a-f]{8}):(gA[A-Za-z0-9_=-]+)", stored)
    assert match is not None and match.group(1) == key_id(key)
    assert SECRET not in stored and "22376123456" not in stored
    assert is_encrypted(stored) and not is_encrypted(SECRET)
    assert Keyring([key]).decrypt(stored) == SECRET
    assert Keyring([key]).encrypt(SECRET) != stored  # a fresh IV every time


def test_the_newest_key_encrypts_and_every_key_decrypts() -> None:
    old, new = new_key().encode(), new_key().encode()
    under_old = Keyring([old]).encrypt(SECRET)
    rotated = Keyring([new, old])
    assert rotated.current == key_id(new) and rotated.ids == (key_id(new), key_id(old))
    assert rotated.decrypt(under_old) == SECRET
    assert not rotated.is_current(under_old)
    again = rotated.reencrypt(under_old)
    assert again.startswith(f"f1:{key_id(new)}:") and rotated.is_current(again)
    assert Keyring([new]).decrypt(again) == SECRET  # the old key may go
    assert rotated.reencrypt(again) == again  # nothing to do under the newest key


def test_legacy_plaintext_is_read_as_it_is_and_needs_encrypting() -> None:
    keyring = Keyring([new_key().encode()])
    assert keyring.decrypt(SECRET) == SECRET
    assert not keyring.is_current(SECRET)
    assert keyring.decrypt(keyring.reencrypt(SECRET)) == SECRET
    assert keyring.decrypt("f1:not a token") == "f1:not a token"  # her words, not our format


def test_a_wrong_or_missing_key_names_data_keys_never_the_value() -> None:
    keyring = Keyring([new_key().encode()])
    stored = keyring.encrypt(SECRET)
    for attempt in (lambda: Keyring([new_key().encode()]).decrypt(stored),
                    lambda: reveal(stored, None)):  # fmt: skip
        with pytest.raises(DataKeyError) as caught:
            attempt()
        message = str(caught.value)
        assert "DATA_KEYS" in message
        assert "22376123456" not in message and "enceinte" not in message
        assert stored[12:] not in message  # not even the token
    damaged = stored[:40] + ("A" if stored[40] != "A" else "B") + stored[41:]
    with pytest.raises(DataKeyError, match="does not decrypt with DATA_KEYS"):
        keyring.decrypt(damaged)


def test_keys_are_checked_and_never_shown() -> None:
    good = new_key().encode()
    assert keyring_from(()) is None
    with pytest.raises(ValueError, match="DATA_KEYS: key 2 is not a Fernet key") as caught:
        Keyring([good, b"short-secret"])
    assert "short-secret" not in str(caught.value)
    assert good.decode() not in repr(Keyring([good]))


def test_the_column_type_encrypts_on_the_way_in_only_with_a_keyring() -> None:
    column, keyring = EncryptedText(), Keyring([new_key().encode()])
    with_keys, without = Dialect(keyring), Dialect(None)
    stored = column.process_bind_param(SECRET, with_keys)
    assert stored is not None and is_encrypted(stored)
    assert column.process_result_value(stored, with_keys) == SECRET
    for empty in (None, ""):  # compared as they are (text != "", IS NOT NULL)
        assert column.process_bind_param(empty, with_keys) == empty
        assert column.process_result_value(empty, with_keys) == empty
    assert column.process_bind_param(SECRET, without) == SECRET  # no DATA_KEYS: plaintext
    assert column.process_result_value(SECRET, without) == SECRET
    with pytest.raises(DataKeyError, match="DATA_KEYS is not set"):
        column.process_result_value(stored, without)


def test_the_local_run_makes_its_data_key_once_private(tmp_path: Path) -> None:
    var = tmp_path / "var"
    key = local_data_key(var)
    assert Keyring([key.encode()]).current == key_id(key.encode())  # a valid Fernet key
    assert local_data_key(var) == key
    assert ((var / "data.key").stat().st_mode & 0o777) == 0o600
