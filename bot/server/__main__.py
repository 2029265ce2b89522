"""``python -m bot.server``: one Rasa server process (:func:`bot.server.app.main`)."""

import sys

from bot.server.app import main

sys.exit(main())
