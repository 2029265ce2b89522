"""``python -m bot dashboard`` (serve, refresh, seed, bench) and ``python -m bot staff``.

Accounts are made here, by someone with access to the server, never from the web: there is
no sign-up page to attack. A password is typed twice without echo, or read from standard
input (``--password-stdin``) for scripts; it never appears in a command line or a log.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from datetime import datetime, timezone

from bot import logs
from bot.dashboard.accounts import LANGUAGES, AccountError, StaffAccounts
from bot.dashboard.figures import Figures
from bot.dashboard.models import ROLES
from bot.dashboard.rollup import refresh
from bot.db.database import engine_from_env
from bot.privacy.purge import cutoff_for
from bot.privacy.tracker import RasaEvents, tracker_engine
from bot.settings import Settings, settings_from_env

logger = logging.getLogger(__name__)


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``dashboard`` and ``staff`` to ``python -m bot``'s sub-parsers."""
    dashboard = commands.add_parser(
        "dashboard", help="the staff dashboard: serve it (default), refresh, seed, bench"
    )
    dashboard.add_argument("--host", help="default DASHBOARD_HOST (127.0.0.1)")
    dashboard.add_argument("--port", type=int, help="default DASHBOARD_PORT (5090)")
    dashboard.set_defaults(func=_serve)
    sub = dashboard.add_subparsers(dest="dashboard_command")
    sub.add_parser("refresh", help="compute the weekly figures now").set_defaults(func=_refresh)
    seeding = sub.add_parser("seed", help="a synthetic history in the configured database "
                             "(a demo or a benchmark: never on a real one)")  # fmt: skip
    seeding.add_argument("--users", type=int, default=200)
    seeding.add_argument("--weeks", type=int, default=26)
    seeding.add_argument("--seed", type=int, default=18)
    seeding.set_defaults(func=_seed)
    bench = sub.add_parser("bench", help="page times with a year of data for 5,000 users "
                           "(a scratch database; PostgreSQL with --postgres URL)")  # fmt: skip
    bench.add_argument("--users", type=int, default=5000)
    bench.add_argument("--weeks", type=int, default=52)
    bench.add_argument("--rounds", type=int, default=20, help="requests per page")
    bench.add_argument("--postgres", help="also on this PostgreSQL database (a scratch schema)")
    bench.set_defaults(func=_bench)

    staff = commands.add_parser("staff", help="dashboard accounts: add, remove, list, unlock")
    actions = staff.add_subparsers(dest="staff_command", required=True)
    adding = actions.add_parser("add", help="a new account (the password is asked twice)")
    adding.add_argument("username")
    adding.add_argument("--role", choices=ROLES, required=True,
                        help="manager: the figures; supervisor: also the live queue")  # fmt: skip
    adding.add_argument("--language", choices=LANGUAGES, default="fr")
    adding.add_argument("--password-stdin", action="store_true",
                        help="read the password from standard input (scripts)")  # fmt: skip
    adding.set_defaults(func=_staff_add)
    removing = actions.add_parser("remove", help="delete an account and end its sessions")
    removing.add_argument("username")
    removing.set_defaults(func=_staff_remove)
    actions.add_parser("list", help="accounts, roles, last sign-in").set_defaults(
        func=_staff_list
    )
    unlocking = actions.add_parser("unlock", help="lift a lock-out after wrong passwords")
    unlocking.add_argument("username")
    unlocking.set_defaults(func=_staff_unlock)


def _accounts(settings: Settings) -> StaffAccounts:
    return StaffAccounts(engine_from_env(), settings.dashboard)


def _events(settings: Settings) -> RasaEvents:
    return RasaEvents(tracker_engine(settings.tracker_store_url))


def _staff_add(args: argparse.Namespace, _stack: object) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("The two passwords differ: nothing was changed.", file=sys.stderr)
            return 1
    try:
        _accounts(settings_from_env()).add(args.username, args.role, password, args.language)
    except AccountError as error:
        print(f"Not added: {error}.", file=sys.stderr)
        return 1
    print(f"Added {args.username.strip().lower()} ({args.role}, {args.language}).")
    return 0


def _staff_remove(args: argparse.Namespace, _stack: object) -> int:
    if not _accounts(settings_from_env()).remove(args.username):
        print(f"No account {args.username!r}.", file=sys.stderr)
        return 1
    print(f"Removed {args.username} and signed out its sessions.")
    return 0


def _staff_list(args: argparse.Namespace, _stack: object) -> int:
    rows = _accounts(settings_from_env()).listing()
    if not rows:
        print("No account yet: python -m bot staff add NAME --role manager|supervisor")
        return 0
    for username, role, language, last, locked in rows:
        seen = last.strftime("%Y-%m-%d %H:%M") if last else "never"
        print(f"{username:<24} {role:<10} {language:<3} last sign-in {seen}"
              f"{'  LOCKED' if locked else ''}")  # fmt: skip
    return 0


def _staff_unlock(args: argparse.Namespace, _stack: object) -> int:
    if not _accounts(settings_from_env()).unlock(args.username):
        print(f"No account {args.username!r}.", file=sys.stderr)
        return 1
    print(f"Unlocked {args.username}.")
    return 0


def _refresh(args: argparse.Namespace, _stack: object) -> int:
    settings = settings_from_env()
    weeks = refresh(engine_from_env(), _events(settings),
                    cutoff_for(settings.privacy.retention_days))  # fmt: skip
    print(f"Computed the figures of {len(weeks)} weeks.")
    return 0


def _seed(args: argparse.Namespace, _stack: object) -> int:
    from bot.dashboard.seed import SeedPlan, seed  # lazy: a demo's generator, never served

    settings = settings_from_env()
    events = _events(settings)
    plan = SeedPlan(args.users, args.weeks, datetime.now(timezone.utc), args.seed)
    counts = seed(engine_from_env(), events.engine, plan)
    print("Seeded: " + ", ".join(f"{table} {n}" for table, n in counts.items()))
    return 0


def _bench(args: argparse.Namespace, _stack: object) -> int:
    from bot.dashboard.bench import main  # lazy: the benchmark seeds its own databases

    return main(args)


def _serve(args: argparse.Namespace, _stack: object) -> int:
    from bot.dashboard.web import Renderer, build_app, refresher_for  # lazy: Sanic, Jinja

    settings = settings_from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logs.install(*(logging.getLogger(n) for n in ("sanic.root", "sanic.error", "bot")))
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    engine = engine_from_env()
    accounts = StaffAccounts(engine, settings.dashboard)
    app = build_app(settings, accounts, Figures(engine), Renderer(settings.locales_dir),
                    refresher=refresher_for(settings, engine, _events(settings), accounts))
    host = args.host or settings.dashboard.host
    port = args.port or settings.dashboard.port
    if not accounts.count():
        print("No staff account yet: python -m bot staff add NAME --role supervisor")
    print(f"Dashboard on http://{host}:{port}/staff/ (Ctrl-C stops it)", flush=True)
    app.run(host=host, port=port, workers=1, access_log=False)
    return 0
