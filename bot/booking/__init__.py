"""Workshop booking: venues, workshops, sessions with real seats, bookings with a waitlist.

Lowest first (each imports only modules listed before it): ``errors`` (what is
refused), ``models`` (the tables), ``notices`` (the messages a participant gets outside a
conversation: reminders, a freed seat, a cancelled session), ``schedule_file`` (the staff's
YAML or CSV file, parsed), ``views`` (what the service hands out), ``seats`` (the locked
steps every change is made of), ``schedule_import`` (a schedule file written in),
``service`` (:class:`~bot.booking.service.BookingService`, the one entry), then its users:
``dialogue`` and ``choice`` (the conversation's words), ``sender`` (sends the notices),
``cli`` (staff's command line)."""

# Whole messages the answers teach ("write ANNULER", "write ATELIER"): never left to the
# classifier. Compared with the normalised text (no accents, lower case).
KEYWORDS = {
    "annuler": "/cancel_booking", "cancelar": "/cancel_booking",
    "atelier": "/book_workshop", "ateliers": "/book_workshop",
    "taller": "/book_workshop", "talleres": "/book_workshop",
}  # fmt: skip
