"""The Rasa server as we run it: locally (``make run``) and in production (``make serve``).

:mod:`bot.server.stores` gives ``endpoints.yml`` its tracker and lock stores from the
settings; :mod:`bot.server.app` builds one Rasa server process (our routes, its limits);
:mod:`bot.server.checks` refuses a production start with weak settings;
:mod:`bot.server.supervisor` starts the action server and the Rasa instances.
"""
