"""The staff dashboard in a real browser: ``python -m bot dashboard`` on a seeded scratch
database, driven by a headless Chromium (``tests/support/chromium.py``). Sign-in and its
refusal, every page's charts, filters and CSV download, sign-out, the manager's 403 on the
queue, no outside resource and no script, and the pages at desktop and phone width
(screenshots in ``var/screenshots/dashboard/``, for a person to look at).

``pytest -m browser`` or ``pytest tests/browser`` runs it alone (about half a minute)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT
from bot.channels.contacts import Contact
from bot.handoff.models import HandoffRow
from tests.support.chromium import Chromium, find_chromium
from tests.support.dashboard import Scratch

pytestmark = pytest.mark.browser

BROWSER = find_chromium()
if BROWSER is None:
    pytest.skip(
        "chromium not installed: apt-get install chromium (.ci/run does)", allow_module_level=True
    )

PAGES = ("reach", "topics", "safety", "handoffs", "workshops", "cost", "queue")
SHOTS = PROJECT_ROOT / "var" / "screenshots" / "dashboard"
COOKIE = "sante_staff"
PASSWORDS = {"manon": "manager-pass-4821", "sami": "supervisor-pass-7730"}
# Enough people for every chart to have weeks of five or more (fewer are shown as "<5").
USERS, WEEKS = 3000, 8


@dataclass(frozen=True)
class Dashboard:
    origin: str  # http://127.0.0.1:PORT

    def url(self, path: str) -> str:
        return self.origin + path


def _open_requests(engine: Engine, now: datetime) -> None:
    """Three requests for a person open now (a history has few or none): the live queue."""
    with engine.begin() as db:
        contacts = db.execute(select(Contact.id, Contact.channel).limit(3)).all()
        for (contact, channel), (reason, minutes, claimed) in zip(contacts, (
            ("emergency", 3, False), ("asked", 12, True), ("not_understood", 40, False),
        ), strict=True):  # fmt: skip
            opened = now - timedelta(minutes=minutes)
            db.execute(insert(HandoffRow.__table__).values(
                conversation_id=contact, language="fr", channel=channel, reason=reason,
                priority=reason == "emergency", opened_at=opened, last_activity_at=opened,
                claimed_at=opened + timedelta(minutes=2) if claimed else None,
                counsellor_id="awa" if claimed else None,
            ))  # fmt: skip


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """The dashboard on a seeded scratch database, with a manager and a supervisor."""
    scratch = Scratch.make(tmp_path_factory.mktemp("dashboard") / "var")
    scratch.seed(USERS, WEEKS)
    with scratch.engine() as engine:
        _open_requests(engine, datetime.now(timezone.utc))
    for username, role in (("manon", "manager"), ("sami", "supervisor")):
        scratch.staff_add(username, role, PASSWORDS[username])
    with scratch.serve() as origin:
        yield Dashboard(origin)


def _sign_in(browser: Chromium, site: Dashboard, username: str, password: str) -> int:
    """Fill and send the sign-in form; the status of the page it leads to."""
    assert browser.navigate(site.url("/staff/login")) == 200
    browser.fill("form#login", {"username": username, "password": password})
    return browser.submit("form#login")


def _session(browser: Chromium) -> dict[str, object] | None:
    return next((c for c in browser.cookies() if c["name"] == COOKIE), None)


@pytest.fixture()
def browser() -> Iterator[Chromium]:
    assert BROWSER is not None
    with Chromium(BROWSER) as chromium:
        chromium.viewport(1280, 900)
        yield chromium


@pytest.fixture(scope="module")
def supervisor(dashboard: Dashboard) -> Iterator[Chromium]:
    """One browser signed in as the supervisor, for the pages."""
    assert BROWSER is not None
    with Chromium(BROWSER) as chromium:
        chromium.viewport(1280, 900)
        assert _sign_in(chromium, dashboard, "sami", PASSWORDS["sami"]) == 200
        yield chromium


def test_a_wrong_password_is_refused(browser: Chromium, dashboard: Dashboard) -> None:
    assert _sign_in(browser, dashboard, "sami", "not-the-password") == 401
    assert browser.evaluate("document.querySelector('p.error[role=alert]') !== null")
    assert _session(browser) is None
    _runs_no_script(browser)
    assert all(url.startswith((dashboard.origin, "data:")) for url in browser.requests)


def test_the_supervisor_signs_in(browser: Chromium, dashboard: Dashboard) -> None:
    assert browser.navigate(dashboard.url("/staff/login")) == 200
    assert browser.evaluate("document.querySelector('form#login input[name=csrf]').value")
    browser.fill("form#login", {"username": "sami", "password": PASSWORDS["sami"]})
    mark = len(browser.documents)
    assert browser.submit("form#login") == 200
    assert browser.documents[mark:] == [
        (dashboard.url("/staff/login"), 303), (dashboard.url("/staff/reach"), 200),
    ]  # fmt: skip
    cookie = _session(browser)
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (True, "Strict", "/staff/")


CHARTS = """[...document.querySelectorAll('svg.chart')].map(svg => ({
    role: svg.getAttribute('role'),
    bars: [...svg.querySelectorAll('rect')].filter(r => {
        const box = r.getBoundingClientRect(); return box.width > 0 && box.height > 0; }).length,
}))"""
FILTERS = """(() => { const form = document.querySelector('form.filters');
    if (!form) return null;
    const field = name => form.elements.namedItem(name);
    return {method: form.getAttribute('method'),
            from: field('from') && field('from').type, to: field('to') && field('to').type,
            selects: ['country', 'language', 'channel'].filter(
                n => field(n) && field(n).tagName === 'SELECT')}; })()"""


@pytest.mark.parametrize("page", PAGES)
def test_every_page_draws_its_charts_and_its_csv(
    supervisor: Chromium, dashboard: Dashboard, page: str, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = len(supervisor.requests)
    assert supervisor.navigate(dashboard.url(f"/staff/{page}")) == 200
    assert supervisor.evaluate(f"document.querySelector('main[data-page={page}]') !== null")
    links = supervisor.evaluate("[...document.querySelectorAll('nav a')].map(a => a.pathname)")
    assert {f"/staff/{name}" for name in PAGES} <= set(links)
    charts = supervisor.evaluate(CHARTS)
    assert charts and all(chart["role"] == "img" for chart in charts), charts
    assert any(chart["bars"] for chart in charts), charts
    dates = None if page == "queue" else "date"  # the live queue has no period
    assert supervisor.evaluate(FILTERS) == {
        "method": "get", "from": dates, "to": dates,
        "selects": ["country", "language", "channel"],
    }  # fmt: skip
    # Nothing from elsewhere (fonts, scripts, images): every request goes to the dashboard
    # (data: URLs are Chromium's own, the date field's calendar icon).
    fetched = supervisor.requests[requests:]
    outside = [url for url in fetched if not url.startswith((dashboard.origin, "data:"))]
    assert outside == [], outside
    _runs_no_script(supervisor)
    if page == "queue":  # the live requests, which the test put there
        assert supervisor.evaluate("document.querySelectorAll('main table tbody tr').length") >= 3
    shot = supervisor.screenshot(SHOTS / f"{page}-1280.png")
    with capsys.disabled():
        print(f"\n  screenshot: {shot}", end="")

    # The CSV link downloads the page's figures, as a click on it does.
    href = supervisor.evaluate("document.querySelector('a.csv')?.href")
    assert href and "format=csv" in href
    status, headers, saved = supervisor.download(href)
    assert status == 200
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"].startswith("attachment;")
    assert re.fullmatch(rf"{page}-\d{{4}}-\d\d-\d\d-\d{{4}}-\d\d-\d\d\.csv", saved.name)
    _check_csv(saved.read_text(encoding="utf-8-sig"))  # a BOM, for spreadsheets


def _check_csv(text: str) -> None:
    """Tables one after the other, a blank line between: each its title, its header row,
    then rows as wide as the header; figures in one of them at least."""
    rows = list(csv.reader(io.StringIO(text)))
    tables: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            tables[-1].append(row)
        else:
            tables.append([])
    assert len(rows) > 1 and all(len(table) >= 2 for table in tables), rows[:5]
    for title, header, *lines in tables:
        assert len(title) == 1 and title[0] and header and all(header), (title, header)
        assert all(len(line) == len(header) for line in lines), (header, lines[:3])
    assert any(len(table) > 2 for table in tables), rows[:5]


def _runs_no_script(browser: Chromium) -> None:
    """No <script>, a policy that allows none, and an injected inline one does not run."""
    assert browser.evaluate("document.scripts.length") == 0
    policy = browser.headers.get("content-security-policy", "")
    directives = {
        part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()
    }  # fmt: skip
    assert directives.get("script-src", directives.get("default-src")) == ["'none'"], policy
    injected = """(() => { const s = document.createElement('script');
        s.textContent = 'window.__ran = true'; document.body.append(s);
        const ran = window.__ran === true; s.remove(); return ran; })()"""
    assert browser.evaluate(injected) is False


def test_the_reach_page_fits_a_phone(
    supervisor: Chromium, dashboard: Dashboard, capsys: pytest.CaptureFixture[str]
) -> None:
    supervisor.viewport(390, 844, mobile=True)
    try:
        assert supervisor.navigate(dashboard.url("/staff/reach")) == 200
        width, scroll = supervisor.evaluate("[innerWidth, document.documentElement.scrollWidth]")
        assert width == 390  # <meta name=viewport content="width=device-width">
        assert scroll <= width  # no sideways scrolling
        shot = supervisor.screenshot(SHOTS / "reach-390.png")
        with capsys.disabled():
            print(f"\n  screenshot: {shot}", end="")
    finally:
        supervisor.viewport(1280, 900)


def test_signing_out_ends_the_session(browser: Chromium, dashboard: Dashboard) -> None:
    assert _sign_in(browser, dashboard, "sami", PASSWORDS["sami"]) == 200
    logout = "form[action='/staff/logout']"
    assert browser.evaluate(f'document.querySelector("{logout}").method') == "post"
    assert browser.evaluate(f'document.querySelector("{logout} input[name=csrf]").value')
    assert browser.submit(logout) == 200
    assert browser.url == dashboard.url("/staff/login")
    assert _session(browser) is None
    mark = len(browser.documents)
    assert browser.navigate(dashboard.url("/staff/reach")) == 200
    assert browser.documents[mark:] == [
        (dashboard.url("/staff/reach"), 303), (dashboard.url("/staff/login"), 200),
    ]  # fmt: skip
    assert browser.evaluate("document.querySelector('form#login') !== null")


def test_a_manager_may_not_open_the_queue(browser: Chromium, dashboard: Dashboard) -> None:
    assert _sign_in(browser, dashboard, "manon", PASSWORDS["manon"]) == 200
    assert browser.navigate(dashboard.url("/staff/queue")) == 403
    assert browser.evaluate("document.querySelector('main[data-page=forbidden]') !== null")
    assert browser.evaluate("document.querySelector('main[data-page=queue], table') === null")
    assert browser.navigate(dashboard.url("/staff/reach")) == 200
