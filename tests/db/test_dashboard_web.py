"""The dashboard's doors, over real HTTP to ``python -m bot dashboard``: who may open what,
sign-in and its lock-out, CSRF, sessions that end, CSV downloads, headers, bad input."""

from __future__ import annotations

import csv
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dashboard import Client, Scratch

PAGES = ("reach", "topics", "safety", "handoffs", "workshops", "cost")
SUPERVISOR, MANAGER = ("sami", "supervisor-pass-7730"), ("manon", "manager-pass-4821")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Scratch, str]]:
    """One seeded dashboard for the module: 2 accounts, lock-out after 3 wrong passwords."""
    scratch = Scratch.make(tmp_path_factory.mktemp("dashboard") / "var",
                           DASHBOARD_LOCKOUT_AFTER="3", DASHBOARD_LOCKOUT_MIN="10")
    scratch.seed(users=120, weeks=6)
    scratch.staff_add(SUPERVISOR[0], "supervisor", SUPERVISOR[1])
    scratch.staff_add(MANAGER[0], "manager", MANAGER[1], language="es")
    with scratch.serve() as origin:
        yield scratch, origin


def signed_in(origin: str, who: tuple[str, str]) -> Client:
    client = Client(origin)
    answer = client.sign_in(*who)
    assert answer.status == 303 and answer.location.endswith("/staff/reach"), answer.text[:300]
    return client


def test_nobody_signed_in_sees_only_the_sign_in_page(site: tuple[Scratch, str]) -> None:
    client = Client(site[1])
    for name in (*PAGES, "queue", "nothing"):
        answer = client.get(f"/staff/{name}")
        assert answer.status == 303 and answer.location.endswith("/staff/login"), name
        assert client.get(f"/staff/{name}?format=csv").status == 303
    login = client.get("/staff/login")
    assert login.status == 200 and 'id="login"' in login.text
    assert client.get("/staff/static/dashboard.css").status == 200
    assert client.get("/staff/").location.endswith(("/staff/login", "/staff/reach"))
    assert client.get("/elsewhere").status == 404


def test_a_supervisor_opens_every_page_and_the_live_queue(site: tuple[Scratch, str]) -> None:
    client = signed_in(site[1], SUPERVISOR)
    for name in (*PAGES, "queue"):
        page = client.get(f"/staff/{name}")
        assert page.status == 200, name
        assert f'data-page="{name}"' in page.text and '<svg class="chart"' in page.text
        assert "<script" not in page.text and "http://" not in page.text.replace(
            'xmlns="http://www.w3.org/2000/svg"', "")  # nothing from elsewhere
        assert "Portée" in page.text  # his language: French
    assert client.get("/staff/unknown").status == 404


def test_a_manager_sees_the_figures_but_not_the_queue(site: tuple[Scratch, str]) -> None:
    client = signed_in(site[1], MANAGER)
    reach = client.get("/staff/reach")
    assert reach.status == 200 and "Alcance" in reach.text  # her language: Spanish
    assert "/staff/queue" not in reach.text  # not in her menu
    for path in ("/staff/queue", "/staff/queue?format=csv"):
        refused = client.get(path)
        assert refused.status == 403 and 'data-page="forbidden"' in refused.text
        assert "dashboard.queue.table" not in refused.text and "<table" not in refused.text


def test_a_wrong_password_is_refused_and_repeated_ones_lock_the_account(
    site: tuple[Scratch, str],
) -> None:
    scratch, origin = site
    scratch.staff_add("lola", "manager", "lola-pass-99120")
    client = Client(origin)
    for _ in range(3):
        answer = client.sign_in("lola", "not-her-password")
        assert answer.status == 401 and 'class="error" role="alert"' in answer.text
        assert client.cookie("sante_staff") is None
    locked = client.sign_in("lola", "lola-pass-99120")  # right, but locked now
    assert locked.status == 401 and client.cookie("sante_staff") is None
    unknown = client.sign_in("nobody", "whatever-password")
    assert unknown.status == 401 and unknown.text.count("role=\"alert\"") == 1
    assert "LOCKED" in scratch.bot("staff", "list").stdout
    assert scratch.bot("staff", "unlock", "lola").returncode == 0
    assert client.sign_in("lola", "lola-pass-99120").status == 303


def test_forms_without_their_csrf_token_are_refused(site: tuple[Scratch, str]) -> None:
    origin = site[1]
    stranger = Client(origin)  # a form posted from another site: no token, no cookie
    answer = stranger.post("/staff/login", {"username": SUPERVISOR[0], "password": SUPERVISOR[1]})
    assert answer.status == 403 and stranger.cookie("sante_staff") is None
    token = stranger.get("/staff/login").csrf()
    wrong = stranger.post("/staff/login", {"csrf": token + "x", "username": SUPERVISOR[0],
                                           "password": SUPERVISOR[1]})  # fmt: skip
    assert wrong.status == 403
    client = signed_in(origin, SUPERVISOR)
    assert client.post("/staff/logout", {}).status == 403
    assert client.get("/staff/reach").status == 200  # still signed in
    token = client.get("/staff/reach").csrf()
    out = client.post("/staff/logout", {"csrf": token})
    assert out.status == 303 and out.location.endswith("/staff/login")
    assert client.get("/staff/reach").status == 303


def test_the_session_cookie_is_kept_from_scripts_and_other_sites(
    site: tuple[Scratch, str],
) -> None:
    client = Client(site[1])
    token = client.get("/staff/login").csrf()
    answer = client.post("/staff/login", {"csrf": token, "username": SUPERVISOR[0],
                                          "password": SUPERVISOR[1]})  # fmt: skip
    cookies = answer.headers.get_all("Set-Cookie")
    session = next(c for c in cookies if c.startswith("sante_staff="))
    lowered = session.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "path=/staff/" in lowered
    page = client.get("/staff/reach")
    assert "script-src" not in page.headers["Content-Security-Policy"]  # none allowed
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store"


def test_csv_downloads_hide_small_counts(site: tuple[Scratch, str]) -> None:
    client = signed_in(site[1], SUPERVISOR)
    for name in (*PAGES, "queue"):
        answer = client.get(f"/staff/{name}?format=csv")
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/csv")
        assert answer.headers["Content-Disposition"].startswith("attachment; filename=")
        assert len(answer.text.splitlines()) > 2, name
    text = client.get("/staff/reach?format=csv").text
    assert text.startswith("\ufeff")  # spreadsheets read it as UTF-8
    reach = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    weekly = reach[2:reach.index([])]
    cells = [cell for row in weekly for cell in row[1:5]]
    assert cells and all(c == "<5" or c == "0" or int(c) >= 5 for c in cells)


def test_filters_narrow_the_figures_and_bad_ones_fall_back(site: tuple[Scratch, str]) -> None:
    client = signed_in(site[1], SUPERVISOR)
    every = client.get("/staff/reach?format=csv").text
    mali = client.get("/staff/reach?format=csv&country=ML").text
    assert every != mali
    for query in ("from=yesterday&to=31-02", "country=XX&language=zz&channel=fax",
                  "from=2020-01-01&to=2030-01-01", "from=" + "9" * 5000):  # fmt: skip
        assert client.get(f"/staff/reach?{query}").status == 200, query


def test_a_session_ends_when_left_unused(tmp_path: Path) -> None:
    scratch = Scratch.make(tmp_path / "var", DASHBOARD_SESSION_IDLE_MIN="0.05")  # 3 s
    scratch.staff_add("sami", "supervisor", SUPERVISOR[1])
    with scratch.serve() as origin:
        client = signed_in(origin, SUPERVISOR)
        assert client.get("/staff/reach").status == 200
        time.sleep(4)
        assert client.get("/staff/reach").status == 303


def test_a_huge_body_is_refused_before_it_is_read(site: tuple[Scratch, str]) -> None:
    host, port = site[1].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /staff/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
                     b"x-www-form-urlencoded\r\nContent-Length: 5000000\r\n\r\n")
        assert b" 413 " in sock.recv(200)
