"""What the booking service refuses, and the signal that a change lost a race.

The lowest booking module (it imports nothing of the project), so that the views, the
schedule import and the service can all raise the same errors without importing each other.
"""

from __future__ import annotations


class BookingError(ValueError):
    """A change that does not apply. The message says why, for staff to read as it is."""


class NotFound(BookingError, LookupError):
    """No such session or booking (or not the participant's own)."""


class SessionClosed(BookingError):
    """The session has started or is cancelled: no more bookings, cancellations or moves."""


class Raced(Exception):
    """What was read before the lock changed meanwhile (a booking moved): the service runs
    the change again from the start; never seen outside :mod:`bot.booking`."""
