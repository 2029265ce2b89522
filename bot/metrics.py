"""What one process counts for ``GET /metrics`` (Prometheus): turns, their latency, webhook
answers. Labels are channels, outcomes and HTTP statuses, never a pseudonym or a text.

The figures every instance shares (inbound queue, outbox, handoffs, notices) are read from
the database when scraped (:mod:`bot.server.metrics`), so they are the same on every
instance and not summed twice.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

TURNS = Counter(
    "sante_turns", "Turns run for user messages, by channel and outcome "
    "(done, failed, interrupted, rate_limited, relayed...).", ["channel", "outcome"],
)  # fmt: skip
TURN_SECONDS = Histogram(
    "sante_turn_seconds", "From the message stored to its turn finished, by channel.",
    ["channel"], buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0),
)  # fmt: skip
WEBHOOK_ACKS = Counter(
    "sante_webhook_acks", "Webhook requests answered, by channel and HTTP status.",
    ["channel", "status"],
)  # fmt: skip
SENDS = Counter(
    "sante_outbox_sends", "Messages handed to a provider, by channel and outcome (sent, "
    "failed, skipped).", ["channel", "outcome"],
)  # fmt: skip

# Read from the database at each scrape (bot.server.metrics): the same on every instance.
INBOUND_QUEUE = Gauge(
    "sante_inbound_queue", "User messages stored and not yet answered (received, processing)."
)
OUTBOX_BACKLOG = Gauge("sante_outbox_backlog", "Messages written but not yet taken by a provider.")
OUTBOX_FAILED = Gauge(
    "sante_outbox_failed_24h", "Messages a provider refused or could not deliver, last 24 h."
)
HANDOFFS_WAITING = Gauge("sante_handoffs_waiting", "Requests for a person nobody has taken yet.")
HANDOFF_OLDEST_WAIT = Gauge(
    "sante_handoff_oldest_wait_seconds", "How long the oldest untaken request has waited."
)
NOTICES_DUE = Gauge("sante_notices_due", "Booking notices due and not yet sent.")
