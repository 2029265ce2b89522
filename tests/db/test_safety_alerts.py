"""Safety alerts in the database: recorded without the message's text."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.database import make_engine
from bot.safety import record_alert
from bot.safety.models import SafetyAlert
from tests.support.env import POSTGRES, require_postgres


@pytest.fixture(params=["sqlite://", POSTGRES])
def url(request: pytest.FixtureRequest) -> str:
    """An in-memory SQLite database, and the local PostgreSQL (skipped when it is down)."""
    return require_postgres() if request.param == POSTGRES else request.param


def test_alerts_are_recorded_without_text(url: str) -> None:
    engine = make_engine(url)
    alert_id = record_alert(engine, "conv-123", "suicide", "bm", "ML")
    with Session(engine, future=True) as session:
        alert = session.scalars(select(SafetyAlert).where(SafetyAlert.id == alert_id)).one()
        assert (alert.category, alert.language, alert.country) == ("suicide", "bm", "ML")
        assert alert.needs_handoff
        columns = {c.name for c in SafetyAlert.__table__.columns}
        assert not columns & {"text", "message", "body"}
        session.delete(alert)
        session.commit()
