"""The dashboard's web server: ``python -m bot dashboard``, behind the proxy under ``/staff/``.

Who may call what: ``/staff/login`` and the style sheet are open (nothing in them); every
page needs a staff session, ``/staff/queue`` a supervisor's; every POST carries the
session's CSRF token (the sign-in form a token bound to a cookie of its own). Pages are
rendered here (Jinja2, autoescaped), with no script: the Content-Security-Policy forbids
any, and any resource from elsewhere. Nothing is logged of what a page shows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.dashboard import charts
from bot.dashboard.accounts import SignedIn, StaffAccounts, same_token
from bot.dashboard.figures import CHANNELS, COUNTRIES, LANGUAGES, Figures, Filters, Page, Value
from bot.dashboard.labels import DOMAIN, GROUPS, S_
from bot.dashboard.labels import LANGUAGES as STAFF_LANGUAGES
from bot.dashboard.models import SUPERVISOR, UNKNOWN
from bot.dashboard.queue import queue
from bot.dashboard.rollup import refresh
from bot.db.base import utcnow
from bot.privacy.purge import cutoff_for
from bot.privacy.tracker import RasaEvents
from bot.settings import Settings

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
SESSION_COOKIE = "sante_staff"
LOGIN_COOKIE = "sante_staff_login"
PREFIX = "/staff"
PAGES = {  # name: (title key, supervisors only)
    "reach": (S_("dashboard.page.reach"), False),
    "topics": (S_("dashboard.page.topics"), False),
    "safety": (S_("dashboard.page.safety"), False),
    "handoffs": (S_("dashboard.page.handoffs"), False),
    "workshops": (S_("dashboard.page.workshops"), False),
    "cost": (S_("dashboard.page.cost"), False),
    "queue": (S_("dashboard.page.queue"), True),
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_BODY = 16 * 1024  # a sign-in form is a few hundred bytes


def catalog(directory: Path, language: str) -> NullTranslations:
    """The dashboard's compiled catalog of ``language`` (``make catalogs``)."""
    loaded = Translations.load(str(directory), [language], DOMAIN)
    if not isinstance(loaded, Translations):
        raise FileNotFoundError(f"No compiled dashboard catalog for {language!r} in "
                                f"{directory}: run `make catalogs`.")  # fmt: skip
    return loaded


class Renderer:
    """Pages and CSV in the reader's language."""

    def __init__(self, locales: Path) -> None:
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"),
                               autoescape=select_autoescape(("html",)),
                               trim_blocks=True, lstrip_blocks=True)  # fmt: skip
        self.catalogs = {lang: catalog(locales, lang) for lang in STAFF_LANGUAGES}

    def translator(self, language: str) -> Callable[[str], str]:
        found = self.catalogs.get(language) or self.catalogs[STAFF_LANGUAGES[0]]

        def t(key: str, **values: object) -> str:
            text = found.gettext(key)
            return text.format(**values) if values else text

        return t

    def shown(self, language: str) -> Callable[[Value], str]:
        t = self.translator(language)

        def shown(value: Value) -> str:
            if value.kind == "text":
                return t(value.text) if value.text.startswith("dashboard.") else value.text
            if value.hidden:
                return "<5" if value.kind == "count" else "–"
            if value.number is None:
                return "–"
            if value.kind == "rate":
                return f"{100 * value.number:.1f} %"
            if value.kind == "ratio":
                return f"{value.number:.1f}"
            if value.kind == "seconds":
                n = value.number
                return f"{n:.0f} s" if n < 120 else f"{n / 60:.0f} min"
            return str(int(value.number))

        return shown

    def html(self, template: str, language: str, **context: Any) -> str:
        t = self.translator(language)
        return self.env.get_template(template).render(t=t, language=language, **context)

    def csv(self, page: Page, language: str) -> str:
        t, shown = self.translator(language), self.shown(language)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for i, table in enumerate(page.tables):
            if i:
                writer.writerow([])
            writer.writerow([t(table.title)])
            writer.writerow([t(c) for c in table.columns])
            for row in table.rows:
                writer.writerow([_cell(shown(v)) for v in row])
        return "\ufeff" + out.getvalue()  # the BOM: spreadsheets then read UTF-8


def _cell(text: str) -> str:
    """A spreadsheet never runs a cell as a formula (a venue's or counsellor's name is
    staff's typing, not ours)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def _secure(answer: HTTPResponse) -> HTTPResponse:
    for name, value in HEADERS.items():
        answer.headers.setdefault(name, value)
    return answer


def _cookie(answer: HTTPResponse, name: str, value: str, secure: bool, max_age: int) -> None:
    answer.cookies[name] = value
    cookie = answer.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Strict"
    cookie["path"] = f"{PREFIX}/"
    cookie["max-age"] = max_age
    if secure:
        cookie["secure"] = True


def build_app(settings: Settings, accounts: StaffAccounts, figures: Figures,
              renderer: Renderer, *, clock: Callable[[], datetime] = utcnow,
              refresher: Callable[[], Any] | None = None) -> Sanic:  # fmt: skip
    """The app; ``refresher`` (the figures' refresh) runs at start and every
    ``refresh_every`` in the background."""
    app = Sanic("dashboard", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = MAX_BODY
    app.config.KEEP_ALIVE_TIMEOUT = 5
    config = settings.dashboard
    secure = config.secure_cookie
    session_age = int(config.session_max.total_seconds())

    def signed_in(request: Request) -> SignedIn | None:
        return accounts.session(request.cookies.get(SESSION_COOKIE))

    def login_page(request: Request, status: int, error: bool) -> HTTPResponse:
        token = secrets.token_urlsafe(32)
        language = request.args.get("lang") if request.args.get("lang") in STAFF_LANGUAGES else (
            STAFF_LANGUAGES[0])  # fmt: skip
        answer = response.html(renderer.html("login.html", language, csrf=token, error=error,
                                             prefix=PREFIX), status=status)  # fmt: skip
        _cookie(answer, LOGIN_COOKIE, token, secure, 3600)
        return _secure(answer)

    def refused(status: int, who: SignedIn | None, key: str) -> HTTPResponse:
        language = who.account.language if who else STAFF_LANGUAGES[0]
        return _secure(response.html(renderer.html(
            "error.html", language, status=status, message=key, who=who, prefix=PREFIX,
            pages=_visible(who), title=key), status=status))  # fmt: skip

    @app.get(f"{PREFIX}/login")
    async def login_form(request: Request) -> HTTPResponse:
        return login_page(request, 200, False)

    @app.post(f"{PREFIX}/login")
    async def login(request: Request) -> HTTPResponse:
        form = request.form or {}
        expected = request.cookies.get(LOGIN_COOKIE) or ""
        if not expected or not same_token(expected, form.get("csrf")):
            return refused(403, None, S_("dashboard.error.csrf"))
        who = await asyncio.to_thread(accounts.sign_in, form.get("username") or "",
                                      form.get("password") or "")  # fmt: skip
        if who is None:
            return login_page(request, 401, True)
        answer = response.redirect(f"{PREFIX}/reach", status=303)
        _cookie(answer, SESSION_COOKIE, who.token, secure, session_age)
        _cookie(answer, LOGIN_COOKIE, "", secure, 0)
        return _secure(answer)

    @app.post(f"{PREFIX}/logout")
    async def logout(request: Request) -> HTTPResponse:
        who = await asyncio.to_thread(signed_in, request)
        if who is None:
            return _secure(response.redirect(f"{PREFIX}/login", status=303))
        if not same_token(who.csrf, (request.form or {}).get("csrf")):
            return refused(403, who, S_("dashboard.error.csrf"))
        await asyncio.to_thread(accounts.sign_out, who.token)
        answer = response.redirect(f"{PREFIX}/login", status=303)
        _cookie(answer, SESSION_COOKIE, "", secure, 0)
        return _secure(answer)

    @app.get(f"{PREFIX}/static/dashboard.css")
    async def style(request: Request) -> HTTPResponse:
        answer = response.text((HERE / "static" / "dashboard.css").read_text(encoding="utf-8"),
                               content_type="text/css; charset=utf-8")  # fmt: skip
        answer.headers["Cache-Control"] = "max-age=3600"
        return _secure(answer)

    @app.get(f"{PREFIX}/")
    async def home(request: Request) -> HTTPResponse:
        return _secure(response.redirect(f"{PREFIX}/reach", status=303))

    @app.get(f"{PREFIX}/<name:str>")
    async def page(request: Request, name: str) -> HTTPResponse:
        who = await asyncio.to_thread(signed_in, request)
        if who is None:
            return _secure(response.redirect(f"{PREFIX}/login", status=303))
        if name not in PAGES:
            return refused(404, who, S_("dashboard.error.not_found"))
        if PAGES[name][1] and who.account.role != SUPERVISOR:
            return refused(403, who, S_("dashboard.error.forbidden"))
        args = {k: request.args.get(k) or "" for k in ("from", "to", "country", "language",
                                                         "channel", "format")}  # fmt: skip
        now = clock()
        filters = Filters.parse(args, now.date())
        built = await asyncio.to_thread(_build, figures, name, filters, now)
        language = who.account.language
        if args["format"] == "csv":
            answer = response.text(renderer.csv(built, language),
                                   content_type="text/csv; charset=utf-8")  # fmt: skip
            answer.headers["Content-Disposition"] = (
                f'attachment; filename="{name}-{filters.first}-{filters.last}.csv"')
            return _secure(answer)
        t, shown = renderer.translator(language), renderer.shown(language)
        drawn = [(c, charts.render(c, t, shown)) for c in built.charts]
        rolled = await asyncio.to_thread(figures.rolled_at)
        html = renderer.html(
            "page.html", language, page=built, name=name, title=PAGES[name][0], who=who,
            prefix=PREFIX, pages=_visible(who), charts=drawn, shown=shown, filters=filters,
            query=filters.query(), csv_query=_query({**filters.query(), "format": "csv"}),
            options=_options(), rolled=rolled, live=name == "queue")  # fmt: skip
        return _secure(response.html(html))

    @app.exception(Exception)
    async def failure(request: Request, error: Exception) -> HTTPResponse:
        status = int(getattr(error, "status_code", 500) or 500)
        if status >= 500:
            logger.error("Dashboard request failed (%s).", type(error).__name__)
        key = S_("dashboard.error.not_found") if status == 404 else S_("dashboard.error.failed")
        return refused(status, None, key)

    async def every(app: Sanic) -> None:
        if refresher is None or config.refresh_every.total_seconds() <= 0:
            return  # DASHBOARD_REFRESH_MIN=0: figures computed elsewhere (the purge, a bench)
        while True:
            try:
                await asyncio.to_thread(refresher)
            except Exception as error:  # the database away: the next round tries again
                logger.error("Dashboard refresh failed (%s).", type(error).__name__)
            await asyncio.sleep(config.refresh_every.total_seconds())

    @app.after_server_start
    async def start_refreshing(app: Sanic, loop: Any) -> None:
        app.ctx.refreshing = loop.create_task(every(app))

    @app.before_server_stop
    async def stop_refreshing(app: Sanic, loop: Any) -> None:
        task = getattr(app.ctx, "refreshing", None)
        if task is not None:
            task.cancel()

    return app


def _build(figures: Figures, name: str, filters: Filters, now: datetime) -> Page:
    if name == "queue":
        return queue(figures.engine, filters, now)
    built: Page = getattr(figures, name)(filters)
    return built


def _visible(who: SignedIn | None) -> list[tuple[str, str]]:
    if who is None:
        return []
    return [(name, title) for name, (title, supervisors) in PAGES.items()
            if not supervisors or who.account.role == SUPERVISOR]  # fmt: skip


def _options() -> dict[str, list[tuple[str, str]]]:
    """The filters' choices: (value, label key); "" is every value."""
    def choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
        return [("", S_("dashboard.all")), *[(v, GROUPS[v]) for v in values]]

    return {"country": choices((*COUNTRIES, UNKNOWN)), "language": choices((*LANGUAGES, UNKNOWN)),
            "channel": choices(CHANNELS)}  # fmt: skip


def _query(values: dict[str, str]) -> str:
    return urlencode(values)


def refresher_for(settings: Settings, engine: Any, events: RasaEvents | None,
                  accounts: StaffAccounts) -> Callable[[], None]:  # fmt: skip
    """One refresh: the weeks whose rows are whole, and expired sessions forgotten."""
    def run() -> None:
        refresh(engine, events, cutoff_for(settings.privacy.retention_days))
        accounts.forget_expired()

    return run
