"""Staff accounts of the dashboard: scrypt passwords, expiring sessions, CSRF, lock-out.

The dashboard shows how many minors wrote about sex, drugs and violence, by place and week:
an account is a person the programme chose (``python -m bot staff add``), never a sign-up.
Passwords are kept as scrypt hashes (the standard library's memory-hard KDF); a browser holds
a random token whose SHA-256 alone is stored, so a copy of the database signs nobody in. A
session ends after ``session_idle`` unused or ``session_max`` in all; ``lockout_after`` wrong
passwords in a row lock the account for ``lockout_for``, and an unknown name costs the same
hashing time as a known one, so neither timing nor message tells which names exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine

from bot.channels.rows import as_utc
from bot.dashboard.models import ROLES, StaffAccount, StaffSession
from bot.db.base import utcnow
from bot.db.transactions import Transactional
from bot.settings import DashboardSettings

logger = logging.getLogger(__name__)

LANGUAGES = ("fr", "es")  # the staff's languages: the dashboard's catalogs
MIN_PASSWORD = 12
# scrypt at N=2^15, r=8: 32 MiB and about 0.1 s per check (OWASP's minimum is N=2^17 with
# r=8, p=1 or an equivalent; 2^15 with 32 MiB keeps a sign-in fast on a small server).
_N, _R, _P = 2**15, 8, 1


class AccountError(ValueError):
    """An account could not be added: the message says why, for the command line."""


@dataclass(frozen=True)
class Account:
    """What the pages need to know of the person signed in."""

    id: int
    username: str
    role: str
    language: str


@dataclass(frozen=True)
class SignedIn:
    """A session: the cookie's token (only ever given here), its CSRF token, its account."""

    token: str
    csrf: str
    account: Account


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash``, both base64: the parameters travel with the hash."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P,
                            maxmem=64 * 1024 * 1024, dklen=32)  # fmt: skip
    return "$".join(("scrypt", str(_N), str(_R), str(_P), _b64(salt), _b64(digest)))


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (compared in constant time)."""
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                             r=int(r), p=int(p), maxmem=64 * 1024 * 1024, dklen=32)  # fmt: skip
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_DUMMY = hash_password(secrets.token_urlsafe(16))  # hashed for unknown names: same cost


class StaffAccounts(Transactional):
    """Accounts and sessions on the project's database."""

    def __init__(
        self,
        engine: Engine,
        settings: DashboardSettings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(engine)
        self.settings = settings
        self._clock = clock

    # -- the command line ---------------------------------------------------------------

    def add(self, username: str, role: str, password: str, language: str = "fr") -> None:
        """A new account; AccountError when the name is taken or a value is wrong."""
        username = username.strip().lower()
        if not username or len(username) > 64 or not username.replace(".", "").replace(
            "-", ""
        ).replace("_", "").isalnum():
            raise AccountError("a username is letters, digits, '.', '-' or '_' (64 at most)")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if language not in LANGUAGES:
            raise AccountError(f"language must be one of {', '.join(LANGUAGES)}")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"a password has at least {MIN_PASSWORD} characters")
        with self._transaction() as session:
            if session.scalar(select(StaffAccount.id).where(StaffAccount.username == username)):
                raise AccountError(f"an account {username!r} exists already")
            session.add(StaffAccount(username=username, role=role, language=language,
                                     password=hash_password(password), failed_logins=0,
                                     created_at=self._clock()))  # fmt: skip

    def remove(self, username: str) -> bool:
        """Delete an account and sign out its browsers; False when there was none."""
        with self._transaction() as session:
            found = session.scalar(
                select(StaffAccount.id).where(StaffAccount.username == username.strip().lower())
            )
            if found is None:
                return False
            session.execute(delete(StaffSession).where(StaffSession.account_id == found))
            session.execute(delete(StaffAccount).where(StaffAccount.id == found))
        return True

    def listing(self) -> list[tuple[str, str, str, datetime | None, bool]]:
        """(username, role, language, last sign-in, locked now) of every account."""
        now = self._clock()
        with self._transaction() as session:
            rows = session.scalars(select(StaffAccount).order_by(StaffAccount.username)).all()
            return [(r.username, r.role, r.language, r.last_login_at,
                     r.locked_until is not None and as_utc(r.locked_until) > now)
                    for r in rows]  # fmt: skip

    def count(self) -> int:
        with self._transaction() as session:
            return len(session.scalars(select(StaffAccount.id)).all())

    # -- the pages ----------------------------------------------------------------------

    def sign_in(self, username: str, password: str) -> SignedIn | None:
        """A new session for the right password of an unlocked account, else None (the
        same answer for an unknown name, a wrong password and a locked account)."""
        now = self._clock()
        with self._transaction() as session:
            row = session.scalar(
                select(StaffAccount).where(StaffAccount.username == username.strip().lower())
                .with_for_update()
            )  # fmt: skip
            if row is None:
                check_password(password, _DUMMY)
                return None
            locked = row.locked_until is not None and as_utc(row.locked_until) > now
            if not check_password(password, row.password) or locked:
                if not locked:
                    row.failed_logins = int(row.failed_logins or 0) + 1
                    if row.failed_logins >= self.settings.lockout_after:
                        row.locked_until = now + self.settings.lockout_for
                        row.failed_logins = 0
                        logger.warning("Staff account %d locked after wrong passwords", row.id)
                return None
            row.failed_logins = 0
            row.locked_until = None
            row.last_login_at = now
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            session.add(StaffSession(token_hash=_token_hash(token), account_id=row.id,
                                     csrf=csrf, created_at=now, last_seen_at=now))  # fmt: skip
            account = Account(int(row.id), row.username, row.role, row.language)
        logger.info("Staff account %d signed in (%s)", account.id, account.role)
        return SignedIn(token, csrf, account)

    def session(self, token: str | None) -> SignedIn | None:
        """The live session of a cookie's token, kept alive; None when unknown or expired
        (an expired one is deleted)."""
        if not token:
            return None
        now = self._clock()
        key = _token_hash(token)
        with self._transaction() as session:
            found = session.get(StaffSession, key)
            if found is None:
                return None
            expired = (now - as_utc(found.last_seen_at) > self.settings.session_idle
                       or now - as_utc(found.created_at) > self.settings.session_max)  # fmt: skip
            account = session.get(StaffAccount, found.account_id)
            if expired or account is None:
                session.delete(found)
                return None
            found.last_seen_at = now
            return SignedIn(token, found.csrf,
                            Account(int(account.id), account.username, account.role,
                                    account.language))  # fmt: skip

    def sign_out(self, token: str) -> None:
        with self._transaction() as session:
            session.execute(
                delete(StaffSession).where(StaffSession.token_hash == _token_hash(token))
            )

    def forget_expired(self) -> int:
        """Delete sessions past their idle time (the refresh loop calls it)."""
        oldest = self._clock() - self.settings.session_idle
        with self._transaction() as session:
            result = session.execute(
                delete(StaffSession).where(StaffSession.last_seen_at < oldest)
            )
            return int(result.rowcount or 0)

    def unlock(self, username: str) -> bool:
        with self._transaction() as session:
            result = session.execute(
                update(StaffAccount).where(StaffAccount.username == username.strip().lower())
                .values(locked_until=None, failed_logins=0)
            )  # fmt: skip
            return bool(result.rowcount)


def same_token(expected: str, given: str | None) -> bool:
    """A CSRF check in constant time."""
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())
