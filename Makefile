# Two commands matter: `make run` (set everything up, chat in the terminal) and `make test`.
# Everything else is a step they call, usable on its own.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PY      := $(VENV)/bin/python
RASA    := $(VENV)/bin/rasa
PYBABEL := $(VENV)/bin/pybabel
STAMP   := $(VENV)/.installed

# Rasa's telemetry would try to reach the internet; TensorFlow's start-up chatter is noise.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

PO_FILES := $(wildcard locales/*/LC_MESSAGES/messages.po locales/*/LC_MESSAGES/dashboard.po)
MO_FILES := $(PO_FILES:.po=.mo)

# make bench-dashboard also runs on this PostgreSQL (a scratch database, dropped afterwards).
BENCH_POSTGRES ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test

.PHONY: help run serve dashboard bench-dashboard test pytest train validate lint eval eval-language bench-channels bench-handoff bench-safety bench-compare counsellor sms-report phone telegram-poll catalogs i18n-extract i18n-update clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(STAMP): pyproject.toml requirements/constraints.txt
	@py=$$(scripts/find-python310) || exit 1; \
	  if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --upgrade pip wheel
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[dev]'
	@touch $@

venv: $(STAMP) ## create .venv and install the pinned dependencies

locales/%/LC_MESSAGES/messages.mo: locales/%/LC_MESSAGES/messages.po $(STAMP)
	$(PYBABEL) compile -D messages -d locales -l $* 2>&1 | grep -v '^compiling' || true
	@test -f $@

# The staff dashboard's own catalogs (fr, es): bot/dashboard, babel-dashboard.cfg.
locales/%/LC_MESSAGES/dashboard.mo: locales/%/LC_MESSAGES/dashboard.po $(STAMP)
	$(PYBABEL) compile -D dashboard -d locales -l $* 2>&1 | grep -v '^compiling' || true
	@test -f $@

catalogs: $(MO_FILES) ## compile the gettext catalogs (.po -> .mo)

i18n-extract: $(STAMP) ## extract message ids into locales/messages.pot (and dashboard.pot: staff pages)
	$(PYBABEL) extract -F babel.cfg --no-location --sort-output --omit-header -o locales/messages.pot .
	$(PYBABEL) extract -F babel-dashboard.cfg --no-default-keywords -k S_ -k t --no-location \
	  --sort-output --omit-header -o locales/dashboard.pot .

i18n-update: i18n-extract ## merge new message ids into the fr, es and bm catalogs
	$(PYBABEL) update --no-fuzzy-matching --ignore-obsolete --width 100 -D messages -i locales/messages.pot -d locales
	for l in fr es; do $(PYBABEL) update --no-fuzzy-matching --ignore-obsolete --width 100 \
	  -D dashboard -i locales/dashboard.pot -d locales -l $$l || exit 1; done

train: $(STAMP) catalogs ## train the model when it is missing or its data, domain, config or NLU code changed
	$(PY) -m bot train

run: train ## set everything up and chat with the assistant in this terminal (Ctrl-C stops all)
	$(PY) -m bot run

serve: $(STAMP) catalogs ## production: check the settings, then the action server and the Rasa instances (.env)
	$(PY) -m bot serve

dashboard: $(STAMP) catalogs ## the staff dashboard on http://127.0.0.1:5090/staff/ (accounts: python -m bot staff add)
	$(PY) -m bot dashboard

counsellor: $(STAMP) catalogs ## in a second terminal beside `make run`: play the counsellor (TAKE 12, #12 text, DONE 12 resolved)
	$(PY) -m bot counsellor

validate: $(STAMP) ## rasa data validate (domain, rules, NLU data)
	$(PY) -m bot validate

lint: $(STAMP) ## ruff and mypy
	$(VENV)/bin/ruff check bot actions tests
	$(VENV)/bin/mypy

pytest: train
	$(PY) -m pytest $(PYTEST_ARGS)

test: lint pytest ## everything CI checks: lint, then pytest (data validation, unit and conversation tests)

eval: train ## per language: intent accuracy and macro-F1 vs a TF-IDF baseline, language id, safety recall
	$(PY) -m bot eval

bench-channels: train ## webhook acknowledgement time (p50/p95) while turns run, SMS and Telegram
	$(PY) -m bot bench-channels

bench-handoff: train ## time from a request for a person to the counsellors' notification (p50/p95)
	$(PY) -m bot bench-handoff

bench-safety: train ## an emergency while a counsellor holds the conversation: to her numbers (p50/p95)
	$(PY) -m bot bench-safety

bench-compare: train ## stock rasa run vs serve mode (1, 2 instances): ready time, turns/s, p50/p95, RSS
	$(PY) -m bot bench-compare

bench-dashboard: $(STAMP) catalogs ## dashboard pages with a year of data for 5,000 users (SQLite, PostgreSQL): p50/p95
	$(PY) -m bot dashboard bench --postgres "$(BENCH_POSTGRES)"

sms-report: catalogs ## SMS segments of every catalog entry as the SMS channel sends it
	$(PY) -m bot sms-report

phone: train ## text the assistant as an SMS user, through a local Twilio stand-in (no account)
	$(PY) -m bot phone

telegram-poll: $(STAMP) ## Telegram without a public URL: forward getUpdates to the running server
	$(PY) -m bot telegram-poll

eval-language: train ## language-detection accuracy on the held-out set in tests/data
	$(PY) -m bot eval-language

clean: ## remove the model, compiled catalogs and local databases (keeps .venv)
	rm -rf models .rasa var $(MO_FILES)
