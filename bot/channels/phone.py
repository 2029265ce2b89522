"""``python -m bot phone``: text the assistant as an SMS user would, with no Twilio account.

Every line typed is posted to our SMS webhook as Twilio posts it (signed form, a new
``MessageSid``); the replies are read where the real ``twilio`` client delivered them, at
the local Twilio stand-in, and printed as the phone shows them: folded to GSM-7, one SMS per
part, with the segment count. The number decides the country (+223 Mali, +51 Peru, +33
France) and therefore the first language and the emergency numbers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.channels.sandbox import Sandbox, post, sandbox
from bot.gsm7 import encode

REPLY_WAIT_S = 20.0  # the longest a turn takes here; then whatever arrived is shown
QUIET_S = 1.5  # no new SMS for this long after the first reply: the turn is over


def read_replies(box: Sandbox, phone: str, before: int) -> list[str]:
    """The SMS sent to ``phone`` after the first ``before`` ones, once they stop coming."""
    deadline = time.monotonic() + REPLY_WAIT_S
    seen, last_change = before, time.monotonic()
    while time.monotonic() < deadline:
        count = len(box.sms_to(phone))
        if count != seen:
            seen, last_change = count, time.monotonic()
        elif count > before and time.monotonic() - last_change > QUIET_S:
            break
        time.sleep(0.1)
    return box.sms_to(phone)[before:]


def phone_chat(
    model: Path,
    number: str,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> None:
    """Start the sandbox, then :func:`texting` until the user quits."""
    write("Starting the stack with the SMS channel and a local Twilio (about 45 s)...")
    with sandbox(model) as box:
        write(f"Ready. You are {number}. Text the assistant (Ctrl-D or Ctrl-C to quit).")
        texting(box, number, read, write)


def texting(
    box: Sandbox, number: str, read: Callable[[str], str], write: Callable[[str], None]
) -> None:
    """Read lines, send each as a signed SMS from ``number``, print the SMS that come back."""
    while True:
        try:
            text = read("sms> ")
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        before = len(box.sms_to(number))
        status, _, _ = post(*box.sms_request(number, text))
        if status != 200:
            write(f"  (the webhook answered {status})")
            continue
        for body in read_replies(box, number, before):
            sms = encode(body)
            write(f"[{sms.encoding}, {sms.segments} segment(s)]\n{body}")
