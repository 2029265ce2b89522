"""Workshop booking: venues, workshops, sessions with real seats, bookings with a waitlist
(``models``, ``service``), the staff command line (``cli``), and the messages a participant
gets outside a conversation: reminders, a freed seat, a cancelled session (``notices``)."""

# Whole messages the answers teach ("write ANNULER", "write ATELIER"): never left to the
# classifier. Compared with the normalised text (no accents, lower case).
KEYWORDS = {
    "annuler": "/cancel_booking", "cancelar": "/cancel_booking",
    "atelier": "/book_workshop", "ateliers": "/book_workshop",
    "taller": "/book_workshop", "talleres": "/book_workshop",
}  # fmt: skip
