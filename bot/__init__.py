"""Santé Jeunes: a trilingual (fr, es, bm) health-information assistant on Rasa.

Subpackages: ``bot.nlu`` (normalisation, language identification, Rasa components),
``bot.i18n`` (catalogs, conversation language, response rendering), ``bot.menu``
(numbered menus), ``bot.launcher`` (the local stack behind ``make run`` and the tests).
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES: tuple[str, ...] = ("fr", "es", "bm")
