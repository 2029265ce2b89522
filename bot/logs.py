"""Logs that never carry a phone number or a Telegram id, exception texts included.

Our own log lines name conversations by pseudonym and errors by class name; but a library's
exception text can quote what it was given (a Twilio error with the number it could not
reach, a database error with its parameters). :class:`Scrubber` rewrites every record
before a handler writes it: any run of eight or more digits (an E.164 number, a Telegram
id), with the usual separators, becomes ``[number]``.
"""

from __future__ import annotations

import logging
import re

# Eight or more digits, optionally after "+", with single spaces, dots or dashes between
# them; not inside a word (a pseudonym is hexadecimal: its digits touch letters).
NUMBER = re.compile(r"(?<![\w+])\+?\d(?:[ .\-]?\d){7,}(?!\w)")
REDACTED = "[number]"


def scrub(text: str) -> str:
    """``text`` with every phone number or long id replaced by ``[number]``."""
    return NUMBER.sub(REDACTED, text)


# Loggers whose lines we write: they never carry a message text (a test reads them all).
OURS = ("bot", "actions", "__main__")


class Scrubber(logging.Filter):
    """A handler filter: the record's message, exception and stack text, scrubbed; a
    library's debug lines dropped (Rasa's quote the user's message)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO and not record.name.startswith(OURS):
            return False
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: keep the record as it is
            return True
        record.msg, record.args = scrub(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def install(*loggers: logging.Logger) -> None:
    """Put one :class:`Scrubber` on every handler of the root logger and of ``loggers``
    (call it after the logging configuration: handlers made later are not covered)."""
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            if not any(isinstance(f, Scrubber) for f in handler.filters):
                handler.addFilter(Scrubber())
