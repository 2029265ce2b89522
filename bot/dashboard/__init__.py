"""The programme dashboard: weekly figures for the people who run and fund the service.

Staff sign in (:mod:`~bot.dashboard.accounts`) to server-rendered pages
(:mod:`~bot.dashboard.web`) built from counts only (:mod:`~bot.dashboard.figures`), which
:mod:`~bot.dashboard.rollup` computes from the service's rows and keeps past their purge.
"""
