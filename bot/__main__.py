"""Command line: ``python -m bot <command>`` (the Makefile calls these).

Commands: ``train``, ``run`` (the local stack and a terminal chat), ``chat`` (against a
running stack), ``counsellor`` (the local counsellor console), ``counsellors`` (the
registry), ``handoff`` (supervising handoffs), ``booking``, ``validate``, ``eval``,
``eval-language``, ``i18n-review``, ``content`` (clinical review of the health answers),
``safety`` (the risk check's review queue), benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot import LANGUAGES, PROJECT_ROOT, migrations
from bot import evaluation as ev
from bot.booking.cli import add_commands as add_booking_commands
from bot.channels import bench as channel_bench
from bot.channels.phone import phone_chat
from bot.channels.polling import PollingError, poll
from bot.channels.report import LIMIT, catalog_costs, report_lines
from bot.channels.webhook_cli import add_commands as add_telegram_commands
from bot.chat import COUNSELLOR_BANNER, chat
from bot.content.cli import add_commands as add_content_commands
from bot.dashboard.cli import add_commands as add_dashboard_commands
from bot.db.database import database_url, make_engine
from bot.handoff import bench as handoff_bench
from bot.handoff.registry_cli import add_commands as add_registry_commands
from bot.handoff.supervision import add_commands as add_handoff_commands
from bot.i18n.catalogs import awaiting_review
from bot.launcher import LocalStack, StackError, use_local_keys
from bot.nlu.normalise import normalise
from bot.privacy.cli import add_commands as add_privacy_commands
from bot.privacy.desk import PrivacyDesk
from bot.privacy.files import private_by_default, restrict
from bot.safety import Lexicon, load_lexicon
from bot.safety import bench as safety_bench
from bot.safety.cli import add_commands as add_safety_commands
from bot.safety.risk import RiskModel, out_of_fold_scores
from bot.server import bench as compare_bench
from bot.server.supervisor import serve
from bot.settings import Settings, StackSettings, load_dotenv, settings_from_env
from bot.training import ensure_model
from bot.validate import validate

if TYPE_CHECKING:  # Rasa's training data type; loading Rasa is for the commands that need it
    from rasa.shared.nlu.training_data.training_data import TrainingData


def _train(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model, force=args.force)
    return 0


def _run(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model)
    print("Starting the action server and the Rasa server (about 45 s to load the model)...")
    print(f"Logs: {settings.var_dir / 'log'}; conversations: {settings.tracker_db}")
    try:
        with LocalStack(settings) as stack:
            print(f"Ready. REST channel: {settings.rasa_url}/webhooks/rest/webhook. In another "
                  "terminal, `make counsellor` plays the counsellor (write PARLER here).")
            chat(stack, sender=args.sender)
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    print("Stopped.")
    return 0


def _chat(args: argparse.Namespace, settings: StackSettings) -> int:
    chat(LocalStack(settings), sender=args.sender)  # not started: talks to a running stack
    return 0


def _counsellor(args: argparse.Namespace, settings: StackSettings) -> int:
    # Talks to the stack `make run` started, as the registry's local counsellor.
    chat(LocalStack(settings), sender=args.address, banner=COUNSELLOR_BANNER)
    return 0


def _serve(args: argparse.Namespace, settings: StackSettings) -> int:
    full = settings_from_env()
    instances = args.instances or full.serve.instances
    return serve(full, instances, process=args.process, index=args.instance)


def _db_upgrade(args: argparse.Namespace, settings: StackSettings) -> int:
    engine = make_engine(database_url(settings_from_env()))  # upgrades to the newest revision
    engine.dispose()
    print(f"Database at the newest revision ({migrations.head()}).")
    return 0


def _validate(args: argparse.Namespace, settings: StackSettings) -> int:
    problems = validate()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print("rasa data validate: clean." if not problems else f"{len(problems)} problem(s).")
    return 1 if problems else 0


def _eval_language(args: argparse.Namespace, settings: StackSettings) -> int:
    from rasa.core.agent import Agent  # lazy: loads Rasa/TensorFlow (8 s)

    _quiet_rasa()
    agent = Agent.load(str(settings.model))

    def detect(text: str) -> str:
        return asyncio.run(agent.parse_message(text))["language"]

    report = ev.language_report(detect, ev.load_heldout())
    print("\n".join(report.lines()))
    return 0 if all(acc >= ev.TARGET for acc in report.accuracy.values()) else 1


def _quiet_rasa() -> None:
    """Rasa's debug log prints every parsed text: keep it at WARNING in our commands."""
    from rasa.utils.common import configure_logging_and_warnings  # lazy: loads Rasa
    from rasa.utils.log_utils import configure_structlog  # lazy: loads Rasa

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)


def _eval(args: argparse.Namespace, settings: StackSettings) -> int:
    from rasa.core.agent import Agent  # lazy: loads Rasa/TensorFlow (8 s)
    from rasa.shared.nlu.training_data.loading import load_data  # lazy: loads Rasa

    ensure_model(settings.model)
    _quiet_rasa()
    agent = Agent.load(str(settings.model))

    @functools.cache
    def parse(text: str) -> dict[str, Any]:
        return asyncio.run(agent.parse_message(text))

    training = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    baseline = ev.train_baseline(
        [(m.get("text"), ev.top_level(m.get("intent"))) for m in training.intent_examples]
    )
    seen = {normalise(m.get("text")) for m in training.intent_examples}
    lexicon = load_lexicon()
    tests, devs, redteam, redteam_fresh, sub_tests, sub_devs = (
        ev.load_sets(d) for d in (ev.TEST_SETS, ev.DEV_SETS, ev.REDTEAM, ev.REDTEAM_FRESH,
                                  ev.SUBTOPIC_TEST_SETS, ev.SUBTOPIC_DEV_SETS)
    )

    def intent_of(text: str) -> str:
        return ev.top_level(ev.classified_intent(parse(text)))

    ok = True
    print(f"{'lang':<5}{'set':<5}{'n':>5}{'acc':>7}{'F1':>7}{'base acc':>10}{'base F1':>9}"
          f"{'lang id':>9}{'recall':>8}{'(lexicon)':>10}{'false al.':>10}")
    details = []
    for lang in LANGUAGES:
        ordinary = [t for sets in (tests, devs) for i, msgs in sets[lang].items()
                    if i != "emergency" for t in msgs]
        gate = ev.score_safety(lambda t: parse(t)["intent"]["name"] == "emergency",
                               redteam[lang], ordinary)
        lex = ev.score_safety(lambda t: lexicon.category(t) is not None, redteam[lang], ordinary)
        held_out = ev.score_safety(lambda t: parse(t)["intent"]["name"] == "emergency",
                                   redteam_fresh[lang], [])
        ok &= gate.recall >= ev.RECALL_TARGET and gate.false_alarm_rate < ev.FALSE_ALARM_LIMIT
        ok &= held_out.recall >= ev.RECALL_TARGET
        for name, sets in (("test", tests), ("dev", devs)):
            rasa = ev.score_intents(intent_of, sets[lang])
            base = ev.score_intents(baseline, sets[lang])
            messages = [t for msgs in sets[lang].values() for t in msgs]
            lang_acc = sum(parse(t)["language"] == lang for t in messages) / len(messages)
            safety = (f"{gate.recall:>8.3f}{lex.recall:>10.3f}{gate.false_alarm_rate:>10.3f}"
                      if name == "test" else "")
            print(f"{lang:<5}{name:<5}{rasa.n:>5}{rasa.accuracy:>7.3f}{rasa.macro_f1:>7.3f}"
                  f"{base.accuracy:>10.3f}{base.macro_f1:>9.3f}{lang_acc:>9.3f}{safety}")
            if name == "test":
                ok &= rasa.macro_f1 >= ev.F1_TARGETS[lang] and rasa.macro_f1 > base.macro_f1
                unseen = {i: [t for t in msgs if normalise(t) not in seen]
                          for i, msgs in sets[lang].items()}
                fresh, fresh_base = (ev.score_intents(p, unseen) for p in (intent_of, baseline))
                details.append(f"  {lang} test, only messages unseen in training (n={fresh.n}):"
                               f" acc {fresh.accuracy:.3f} F1 {fresh.macro_f1:.3f}, baseline"
                               f" acc {fresh_base.accuracy:.3f} F1 {fresh_base.macro_f1:.3f}")
                details.append(f"  {lang} test F1 per intent: " + ", ".join(
                    f"{i} {f:.2f}" for i, f in rasa.per_intent.items()))
        subtopics = {name: ev.score_subtopics(lambda t: ev.chosen_subtopic(parse(t)), sets[lang])
                     for name, sets in (("test", sub_tests), ("dev", sub_devs))}  # fmt: skip
        details += [f"  {lang} health sub-topics, {name} (n={s.n}): answer reached "
                    f"{s.accuracy:.3f}, intent {s.intent_accuracy:.3f}"
                    for name, s in subtopics.items()]  # fmt: skip
        # Misses of the dev set only: they may guide training data, the test set's may not.
        details += [f"  {lang} sub-topic dev miss {exp} -> {got}: {text}"
                    for exp, got, text in subtopics["dev"].misses]  # fmt: skip
        # Only counts for the held-out half: printing its misses would invite tuning on it.
        details.append(f"  {lang} safety recall on the held-out fresh red-team half: "
                       f"{held_out.recall:.3f} ({len(held_out.missed)} missed of "
                       f"{sum(len(v) for v in redteam_fresh[lang].values())})")
        details += [f"  {lang} missed emergency: {t}" for t in gate.missed]
        details += [f"  {lang} false alarm: {t}" for t in gate.alarms]
    print("\n".join(details))
    def conversation(texts: list[str]) -> list[str]:
        return asyncio.run(ev.conversation_levels(agent, texts))

    risk_lines, risk_ok = _eval_risk(parse, training, lexicon, tests, devs, conversation)
    print("\n".join(risk_lines))
    print("targets met" if ok else "targets NOT met: macro-F1 >= 0.92 fr/es, 0.85 bm, above the "
          "baseline, on the test sets; safety recall 1.0 on both red-team lists; false alarms "
          "< 3 %")
    print("risk check targets met" if risk_ok else "risk check targets NOT met (test half): "
          "recall of clear+possible >= 0.97 fr/es, 0.93 bm; clear alone >= 0.90; on ordinary "
          "messages clear < 1 %, possible < 3 %")
    return 0 if ok and risk_ok else 1


def _eval_risk(
    parse: Callable[[str], dict[str, Any]],
    training: TrainingData,
    lexicon: Lexicon,
    tests: dict[str, dict[str, list[str]]],
    devs: dict[str, dict[str, list[str]]],
    conversation: Callable[[list[str]], list[str]],
) -> tuple[list[str], bool]:
    """The graded check (issue 17). The model alone is timed from a copy trained here on
    the same data and code as the pipeline's."""
    from bot.nlu.components import RiskCheck  # lazy: loads Rasa

    labelled = RiskCheck.labelled_examples(training)
    model = RiskModel.train(labelled)
    ordinary = {
        half: {lang: [t for i, msgs in sets[lang].items() if i != "emergency" for t in msgs]
               for lang in LANGUAGES}
        for half, sets in (("test", tests), ("dev", devs))
    }  # fmt: skip
    unseen = out_of_fold_scores(labelled)
    return ev.risk_report(parse, lexicon.category, model.score, ordinary, unseen, conversation)


def _i18n_review(args: argparse.Namespace, settings: StackSettings) -> int:
    entries = awaiting_review()
    for lang, key, text in entries:
        print(f"{lang}\t{key}\t{text}")
    print(f"{len(entries)} entries await a native speaker's review.", file=sys.stderr)
    return 0


def _sms_report(args: argparse.Namespace, settings: StackSettings) -> int:
    costs = catalog_costs()
    print("\n".join(report_lines(costs)))
    return 0 if all(c.segments <= LIMIT for c in costs) else 1


def _bench_channels(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model)
    result = channel_bench.run_bench(settings.model, rate=args.rate, count=args.count)
    print("\n".join(result.lines()))
    return 0


def _bench_handoff(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model)
    result = handoff_bench.run_bench(settings.model, rate=args.rate, count=args.count)
    print("\n".join(result.lines()))
    return 0


def _bench_safety(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model)
    result = safety_bench.run_bench(settings.model, rate=args.rate, count=args.count)
    print("\n".join(result.lines()))
    return 0 if not result.missing else 1


def _bench_compare(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model)
    return compare_bench.run(args, settings.model)


def _phone(args: argparse.Namespace, settings: StackSettings) -> int:
    ensure_model(settings.model)
    try:
        phone_chat(settings.model, args.number)
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _telegram_poll(args: argparse.Namespace, settings: StackSettings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    webhook = args.webhook or f"{settings.rasa_url}/webhooks/telegram/webhook"
    print(f"Forwarding Telegram updates to {webhook} (Ctrl-C stops).")
    try:
        stats = asyncio.run(poll(settings_from_env().channels, webhook))
    except PollingError as error:
        print(f"telegram-poll: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    print(f"{stats.forwarded} update(s) forwarded, {stats.refused} refused by the webhook.")
    return 0


def _privacy_desk(settings: Settings) -> PrivacyDesk:
    """The channels' privacy desk for ``privacy erase`` (the relay tells her counsellor)."""
    from bot.runtime import build_runtime  # lazy: loads Rasa's channel classes

    desk = build_runtime(settings).privacy
    assert desk is not None  # build_runtime always makes one
    return desk


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command."""
    private_by_default()
    load_dotenv(PROJECT_ROOT / ".env")
    settings_from_env.cache_clear()  # .env may have added settings: read them after it
    if use_local_keys(settings_from_env().stack.var_dir):
        settings_from_env.cache_clear()
    restrict(settings_from_env().stack.var_dir)
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train when the model is missing or stale")
    train.add_argument("--force", action="store_true", help="train even if up to date")
    train.set_defaults(func=_train)
    for name, func, text in (
        ("run", _run, "start the local stack and chat in this terminal"),
        ("chat", _chat, "chat with an already running stack"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--sender", help="conversation id (default: a new random one)")
        sub.set_defaults(func=func)
    counsellor = commands.add_parser(
        "counsellor", help="play the counsellor against `make run` (the local console)"
    )
    counsellor.add_argument("--address", default="console",
                            help="the local counsellor's address in the registry")  # fmt: skip
    counsellor.set_defaults(func=_counsellor)
    add_registry_commands(commands)
    add_booking_commands(commands)
    add_handoff_commands(commands)
    add_telegram_commands(commands)
    add_privacy_commands(commands, _privacy_desk)
    add_content_commands(commands)
    add_safety_commands(commands)
    add_dashboard_commands(commands)
    serve_parser = commands.add_parser(
        "serve", help="production: the action server and the Rasa instances, from .env"
    )
    serve_parser.add_argument("--instances", type=int, help="Rasa processes on this host "
                              "(default INSTANCES, 1), on RASA_PORT, RASA_PORT+1...")
    serve_parser.add_argument("--process", choices=("actions", "rasa", "dashboard"),
                              help="run only this process (one systemd unit per process)")
    serve_parser.add_argument("--instance", type=int, default=0,
                              help="with --process rasa: which one (port RASA_PORT+N)")
    serve_parser.set_defaults(func=_serve)
    db = commands.add_parser("db", help="our database").add_subparsers(dest="db", required=True)
    db.add_parser("upgrade", help="apply the migrations (make serve does it too)"
                  ).set_defaults(func=_db_upgrade)
    commands.add_parser("validate", help="rasa data validate, strict").set_defaults(
        func=_validate
    )
    commands.add_parser(
        "eval-language", help="language-detection accuracy on the held-out set"
    ).set_defaults(func=_eval_language)
    commands.add_parser(
        "eval", help="intents vs a TF-IDF baseline, language, safety recall, per language"
    ).set_defaults(func=_eval)
    commands.add_parser(
        "i18n-review", help="list catalog entries awaiting a native speaker"
    ).set_defaults(func=_i18n_review)
    commands.add_parser(
        "sms-report", help="SMS segments of every catalog entry, as the SMS channel sends it"
    ).set_defaults(func=_sms_report)
    bench = commands.add_parser(
        "bench-channels", help="webhook acknowledgement time while turns run (SMS, Telegram)"
    )
    bench.add_argument("--rate", type=float, default=4.0, help="messages per second")
    bench.add_argument("--count", type=int, default=120, help="messages in all")
    bench.set_defaults(func=_bench_channels)
    bench_handoff = commands.add_parser(
        "bench-handoff", help="time from a request for a person to the counsellors' notice"
    )
    bench_handoff.add_argument("--rate", type=float, default=0.5, help="requests per second")
    bench_handoff.add_argument("--count", type=int, default=40, help="requests in all")
    bench_handoff.set_defaults(func=_bench_handoff)
    bench_safety = commands.add_parser(
        "bench-safety", help="an emergency while a counsellor holds the conversation: to "
        "her numbers, to the counsellor's warning (p50/p95)")  # fmt: skip
    bench_safety.add_argument("--rate", type=float, default=1.0, help="emergencies per second")
    bench_safety.add_argument("--count", type=int, default=20, help="users, each with one")
    bench_safety.set_defaults(func=_bench_safety)
    bench_compare = commands.add_parser(
        "bench-compare", help="stock rasa run vs serve mode (1, 2 instances): ready time, "
        "turns/s, p50/p95, RSS")  # fmt: skip
    compare_bench.add_arguments(bench_compare)
    bench_compare.set_defaults(func=_bench_compare)
    phone = commands.add_parser(
        "phone", help="text the assistant by SMS through a local Twilio stand-in"
    )
    phone.add_argument("--number", default="+22370000000", help="your number (sets the country)")
    phone.set_defaults(func=_phone)
    poller = commands.add_parser(
        "telegram-poll", help="development without a public URL: getUpdates -> our webhook"
    )
    poller.add_argument("--webhook", help="default: the local Rasa server's Telegram webhook")
    poller.set_defaults(func=_telegram_poll)
    args = parser.parse_args(argv)
    return int(args.func(args, settings_from_env().stack))


if __name__ == "__main__":
    sys.exit(main())
