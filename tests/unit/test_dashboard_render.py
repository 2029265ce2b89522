"""What the dashboard draws and writes: charts as SVG (a hidden cell has no height), values
as people read them, CSV cells a spreadsheet cannot run, filters that never fail."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest

from bot import PROJECT_ROOT
from bot.dashboard.charts import nice_ceiling, render
from bot.dashboard.figures import Chart, Filters, Page, Table, Value, count, label, rate, ratio
from bot.dashboard.web import Renderer

W1, W2 = date(2026, 11, 9), date(2026, 11, 16)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(PROJECT_ROOT / "locales")


def test_a_chart_draws_one_bar_per_value_and_hides_small_ones(renderer: Renderer) -> None:
    chart = Chart("dashboard.reach.chart", [W1, W2], [
        ("dashboard.reach.new", [count(40), count(3)]),
        ("dashboard.reach.returning", [count(10), count(0)])])  # fmt: skip
    svg = str(render(chart, renderer.translator("fr"), renderer.shown("fr")))
    heights = [float(h) for h in re.findall(r'<rect[^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 4 and heights[0] > heights[1] > 0  # week by week, series by series
    assert heights[2] == 0.0  # 3 people: no bar to measure
    assert "Nouvelles, 16/11: &lt;5" in svg and 'role="img"' in svg
    assert "<script" not in svg and "http" not in svg


def test_an_empty_chart_says_so(renderer: Renderer) -> None:
    chart = Chart("dashboard.cost.chart", [W1], [("dashboard.value.ML", [count(0)])])
    svg = str(render(chart, renderer.translator("es"), renderer.shown("es")))
    assert '<text class="empty"' in svg and "No hay datos" in svg and "<rect" not in svg


def test_axes_end_on_round_numbers() -> None:
    assert [nice_ceiling(v) for v in (0, 3, 12, 180, 4100)] == [1.0, 5.0, 20.0, 200.0, 5000.0]


def test_values_read_as_people_expect(renderer: Renderer) -> None:
    shown = renderer.shown("fr")
    assert [shown(count(0)), shown(count(4)), shown(count(5)), shown(count(1250))] == [
        "0", "<5", "5", "1250"]  # fmt: skip
    assert shown(rate(1, 4)) == "–" and shown(rate(3, 12)) == "25.0 %"
    assert shown(ratio(31, 10)) == "3.1" and shown(Value(95.0, "seconds", 6)) == "95 s"
    assert shown(Value(600.0, "seconds", 6)) == "10 min" and shown(Value(7.0, "seconds", 2)) == "–"
    assert shown(label("dashboard.value.PE")) == "Pérou" and shown(label("pill_how")) == "pill_how"


def test_csv_cells_are_never_formulas(renderer: Renderer) -> None:
    page = Page("workshops", tables=[Table("dashboard.workshops.table", (
        "dashboard.workshops.venue", "dashboard.workshops.seats"),
        [[label("=HYPERLINK(1)"), count(12)], [label("@venue"), count(2)]])])  # fmt: skip
    text = renderer.csv(page, "es").lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["Por taller y por lugar"] and rows[1] == ["Lugar", "Plazas"]
    assert rows[2][0].startswith("'=") and rows[3] == ["'@venue", "<5"]


@pytest.mark.parametrize(("query", "first", "last"), [
    ({}, date(2026, 9, 21), date(2026, 12, 7)),
    ({"from": "2026-11-11", "to": "2026-11-20"}, W1, W2),
    ({"from": "2026-11-20", "to": "2026-11-11"}, W1, W2),  # the wrong way round
    ({"from": "yesterday", "to": "31/02"}, date(2026, 9, 21), date(2026, 12, 7)),
    ({"from": "1990-01-01", "to": "2026-12-09"}, date(2023, 12, 18), date(2026, 12, 7)),
])  # fmt: skip
def test_filters_fall_back_rather_than_fail(
    query: dict[str, str], first: date, last: date
) -> None:
    found = Filters.parse({**query, "country": "XX", "channel": "sms"}, date(2026, 12, 9))
    assert (found.first, found.last, found.country, found.channel) == (first, last, "", "sms")
