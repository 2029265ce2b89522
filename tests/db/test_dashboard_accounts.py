"""Staff accounts on SQLite and PostgreSQL: scrypt hashes, sessions that end, the lock-out,
and the ``python -m bot staff`` commands."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.dashboard.accounts import AccountError, StaffAccounts, check_password, hash_password
from bot.dashboard.models import StaffAccount, StaffSession
from bot.db.transactions import session_factory
from bot.settings import DashboardSettings
from tests.support.clock import ManualClock

PASSWORD = "una-clave-larga-2026"


@pytest.fixture()
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))


@pytest.fixture()
def accounts(isolated: Engine, clock: ManualClock) -> StaffAccounts:
    settings = DashboardSettings(session_idle=timedelta(minutes=30),
                                 session_max=timedelta(hours=12), lockout_after=3,
                                 lockout_for=timedelta(minutes=15))  # fmt: skip
    made = StaffAccounts(isolated, settings, clock=clock)
    made.add("Awa.Traore", "supervisor", PASSWORD, "fr")
    return made


def test_passwords_are_kept_as_salted_scrypt_hashes(accounts: StaffAccounts) -> None:
    with session_factory(accounts.engine).begin() as session:
        stored = session.scalar(select(StaffAccount.password))
    assert stored.startswith("scrypt$32768$8$1$") and PASSWORD not in stored
    assert check_password(PASSWORD, stored) and not check_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # a salt each time
    assert not check_password(PASSWORD, "md5$" + hashlib.md5(PASSWORD.encode()).hexdigest())


@pytest.mark.parametrize(("username", "role", "password", "language", "why"), [
    ("awa.traore", "manager", PASSWORD, "fr", "exists already"),
    ("lucia", "admin", PASSWORD, "es", "role must be"),
    ("lucia", "manager", "short", "es", "at least 12"),
    ("lucia", "manager", PASSWORD, "bm", "language must be"),
    ("lu cia", "manager", PASSWORD, "es", "letters, digits"),
    ("", "manager", PASSWORD, "es", "letters, digits"),
])  # fmt: skip
def test_a_wrong_account_is_refused_with_the_reason(
    accounts: StaffAccounts, username: str, role: str, password: str, language: str, why: str
) -> None:
    with pytest.raises(AccountError, match=why):
        accounts.add(username, role, password, language)


def test_a_session_lives_while_used_and_ends_when_idle_or_too_old(
    accounts: StaffAccounts, clock: ManualClock
) -> None:
    signed = accounts.sign_in("  AWA.TRAORE ", PASSWORD)  # as typed on a phone
    assert signed is not None and signed.account.role == "supervisor"
    with session_factory(accounts.engine).begin() as session:
        assert session.scalar(select(StaffSession.token_hash)) == hashlib.sha256(
            signed.token.encode()).hexdigest()  # the token itself is never stored
    for _ in range(40):  # used every 25 minutes: alive for 12 hours, not longer
        clock.advance(minutes=25)
        if accounts.session(signed.token) is None:
            break
    lived = clock() - datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert timedelta(hours=12) < lived <= timedelta(hours=12, minutes=25)
    again = accounts.sign_in("awa.traore", PASSWORD)
    assert again is not None
    clock.advance(minutes=31)
    assert accounts.session(again.token) is None
    assert accounts.session("forged-token") is None and accounts.session(None) is None


def test_wrong_passwords_lock_the_account_then_it_opens_again(
    accounts: StaffAccounts, clock: ManualClock
) -> None:
    for _ in range(3):
        assert accounts.sign_in("awa.traore", "not-the-password") is None
    assert accounts.sign_in("awa.traore", PASSWORD) is None  # locked, even with the right one
    assert accounts.listing()[0][4] is True
    clock.advance(minutes=16)
    assert accounts.sign_in("awa.traore", PASSWORD) is not None
    for _ in range(2):
        accounts.sign_in("awa.traore", "nope-nope-nope")
    assert accounts.sign_in("awa.traore", PASSWORD) is not None  # a success resets the count
    assert accounts.sign_in("nobody", PASSWORD) is None


def test_removing_an_account_ends_its_sessions(accounts: StaffAccounts) -> None:
    signed = accounts.sign_in("awa.traore", PASSWORD)
    assert signed is not None
    assert accounts.remove("Awa.Traore") and not accounts.remove("awa.traore")
    assert accounts.session(signed.token) is None


def test_the_staff_commands(
    command_line: Callable[[str], Callable[..., tuple[int, str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    staff = command_line("staff")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert staff("add", "Lucia", "--role", "manager", "--language", "es",
                 "--password-stdin")[0] == 0  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    status, _, err = staff("add", "ines", "--role", "manager", "--password-stdin")
    assert status == 1 and "at least 12" in err
    passwords = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(passwords))
    status, _, err = staff("add", "ines", "--role", "manager")
    assert status == 1 and "differ" in err
    status, out, _ = staff("list")
    assert status == 0 and "lucia" in out and "manager" in out and "es" in out
    assert PASSWORD not in out
    assert staff("unlock", "lucia")[0] == 0 and staff("unlock", "nobody")[0] == 1
    assert staff("remove", "lucia")[0] == 0 and staff("remove", "lucia")[0] == 1
    assert "No account yet" in staff("list")[1]
