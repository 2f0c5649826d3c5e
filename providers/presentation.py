"""Presentation for the Models and Usage pages: numbers people can read (128K, $0.15) and the geometry
of the usage chart, drawn on the server as SVG so the page needs no charting script."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from providers.models import ModelKind
from providers.readiness import NO_LLM_MODEL

# --- readable numbers -------------------------------------------------------------------------------


def compact_count(count: int | float | None) -> str:
    """128000 → "128K", 1047576 → "1.05M", 256 → "256"; None → "—"."""
    if count is None:
        return "—"
    if count >= 1_000_000:
        return f"{count / 1_000_000:.2f}".rstrip("0").rstrip(".") + "M"
    if count >= 10_000:
        return f"{round(count / 1_000)}K"
    if count >= 1_000:
        return f"{count / 1_000:.1f}".rstrip("0").rstrip(".") + "K"
    return f"{count:g}"


def price_label(price: Decimal) -> str:
    """A price per million tokens: "$0.15", "$15.00", "$0.0001"; "Free" when it costs nothing."""
    if price == 0:
        return "Free"
    text = format(price.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"${whole}.{fraction.ljust(2, '0')}"


def cost_label(cost: Decimal | None, places: int | None = None) -> str:
    """Money spent: with ``places`` decimals, else two, or four below a cent so it does not read as zero."""
    if cost is None:
        return "—"
    if places is not None:
        return f"${cost.quantize(Decimal(1).scaleb(-places)):,}"
    if cost == 0:
        return "$0.00"
    if cost < Decimal("0.0001"):
        return "< $0.0001"
    if cost < Decimal("0.01"):
        return f"${cost.quantize(Decimal('0.0001'))}"
    return f"${cost.quantize(Decimal('0.01')):,}"


def is_built_in_model(ref: str) -> bool:
    """A model that runs inside Groundwork (``local:…``): it never costs money."""
    return ref.startswith("local:")


def spend_label(cost: Decimal | None, *, tokens: int | None = None, built_in: bool = False) -> str:
    """What something used: its cost when it cost money; when it cost nothing, what it used instead,
    because "$0.00" reads as "nothing happened": "1,240 tokens" (a free or self-hosted model) or
    "free (built-in model)". The exact dollars stay available to a tooltip through ``cost_label``."""
    if cost is None:
        return "—"
    if cost > 0:
        return cost_label(cost)
    if tokens:
        return f"{tokens:,} token{'s' if tokens != 1 else ''}"
    return "free (built-in model)" if built_in else "free"


def short_day(day: date, *, year: bool = False) -> str:
    """ "7 Nov" (or "7 Nov 2026"), without a leading zero and without platform-specific strftime flags."""
    return f"{day.day} {day:%b %Y}" if year else f"{day.day} {day:%b}"


def deprecation_warning(row: dict[str, Any]) -> str:
    if not row["is_deprecated"]:
        return ""
    warning = f"{row['display_name']} is deprecated"
    if row["deprecated_on"]:
        warning += f" since {short_day(row['deprecated_on'], year=True)}"
    if row.get("retires_on"):
        warning += f" and stops working on {short_day(row['retires_on'], year=True)}"
    return warning + ". Consider a newer model."


def present_model(row: dict[str, Any]) -> dict[str, Any]:
    """A catalog row with the labels the templates show."""
    is_embedding = row["kind"] == ModelKind.EMBEDDING
    # The built-in no-LLM answerer reads no prompt: its catalog context window is a placeholder, not a
    # capability, so it is never shown as one ("1M context").
    quotes_only = row["ref"] == NO_LLM_MODEL
    return {
        **row,
        "quotes_only": quotes_only,
        "context_label": "" if quotes_only else compact_count(row["context_window"]),
        "max_output_label": compact_count(row["max_output_tokens"]),
        "input_price_label": price_label(row["input_price_per_million"]),
        # Embedding models produce vectors, not tokens: there is no output price to speak of.
        "output_price_label": "—" if is_embedding else price_label(row["output_price_per_million"]),
        # A model that costs nothing says so in words, never "$0.00" (the built-in ones; free own models).
        "typical_cost_label": "Free"
        if row.get("typical_answer_cost_usd") == 0
        else cost_label(row.get("typical_answer_cost_usd")),
        "deprecation_warning": deprecation_warning(row),
    }


# --- the usage chart --------------------------------------------------------------------------------

CHART_MAX_BARS = 12  # by model or bot: the most expensive ones; the table lists them all


@dataclass(frozen=True)
class ChartLayout:
    """Sizes in SVG units. The SVG scales to its container, text included, so phones get their own
    narrower drawing (CSS shows one or the other) instead of a wide one shrunk to illegible text."""

    name: str
    width: int
    column_height: int  # the day chart's height
    axis_width: int  # room for the y-axis labels
    max_axis_labels: int
    row_height: int  # the model/bot chart's rows
    label_width: int
    value_width: int
    label_chars: int


WIDE = ChartLayout("wide", 720, 260, 64, 7, 36, 196, 96, 26)
NARROW = ChartLayout("narrow", 360, 230, 48, 4, 34, 136, 72, 17)


@dataclass
class ChartBar:
    x: float
    y: float
    width: float
    height: float
    title: str  # the tooltip, also read by screen readers
    label: str = ""
    label_x: float = 0
    label_y: float = 0
    value_label: str = ""
    value_x: float = 0


@dataclass
class ChartTick:
    position: float
    label: str


@dataclass
class Chart:
    layout: ChartLayout
    orientation: str  # "columns" (one per day) or "bars" (one per model or bot)
    height: int
    title: str
    description: str = ""
    bars: list[ChartBar] = field(default_factory=list)
    ticks: list[ChartTick] = field(default_factory=list)
    axis_labels: list[ChartTick] = field(default_factory=list)
    plot_left: float = 0
    plot_right: float = 0
    plot_top: float = 0
    plot_bottom: float = 0

    @property
    def width(self) -> int:
        return self.layout.width

    @property
    def tick_x(self) -> float:
        return self.plot_left - 8

    @property
    def axis_y(self) -> float:
        return self.plot_bottom + 18

    @property
    def track_width(self) -> float:
        return self.plot_right - self.plot_left


def usage_cost_places(report: dict[str, Any]) -> int:
    """One precision for every cost on the usage page: cents once there is real money, else 1/100 cent."""
    return 2 if report["totals"]["cost_usd"] >= 10 else 4


def nice_step(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value``: round numbers on the axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    for mantissa in (1, 2, 5, 10):
        if value <= mantissa * magnitude * (1 + 1e-9):
            return mantissa * magnitude
    return 10 * magnitude


@dataclass(frozen=True)
class _Measure:
    """What a chart measures, cost (USD) or tokens (in + out), and how its values read."""

    metric: str
    places: int  # decimals of a cost

    @property
    def name(self) -> str:
        return "Cost" if self.metric == "cost" else "Tokens"

    def of(self, row: dict[str, Any]) -> float:
        if self.metric == "cost":
            return float(row["cost_usd"])
        return float(row["input_tokens"] + row["output_tokens"])

    def label(self, value: float) -> str:
        return cost_label(Decimal(str(value)), self.places) if self.metric == "cost" else compact_count(value)

    def tick(self, value: float, step: float) -> str:
        """An axis label: costs with as many decimals as the step needs, no more."""
        if self.metric != "cost":
            return compact_count(value)
        decimals = max(2, -math.floor(math.log10(step)))
        return f"${value:,.{decimals}f}"


def usage_chart(report: dict[str, Any], metric: str, layout: ChartLayout = WIDE) -> Chart:
    """Columns per day, or horizontal bars per model or bot, of cost (USD) or tokens (in + out)."""
    rows = report["rows"]
    measure = _Measure(metric, usage_cost_places(report))
    if report["group_by"] == "day":
        return _day_columns(layout, rows, measure, report["start"], report["end"])
    return _group_bars(layout, rows[:CHART_MAX_BARS], measure, report["group_by"], len(rows))


def _day_columns(
    layout: ChartLayout, rows: list[dict[str, Any]], measure: _Measure, start: date, end: date
) -> Chart:
    chart = Chart(
        layout=layout,
        orientation="columns",
        height=layout.column_height,
        title=f"{measure.name} per day, {short_day(start, year=True)} to {short_day(end, year=True)}",
        plot_left=layout.axis_width,
        plot_right=layout.width - 8,
        plot_top=12,
        plot_bottom=layout.column_height - 28,
    )
    values = [measure.of(row) for row in rows]
    step = nice_step(max(values, default=0) / 4)
    top = step * 4
    plot_height = chart.plot_bottom - chart.plot_top
    for index in range(5):
        chart.ticks.append(
            ChartTick(chart.plot_bottom - plot_height * index / 4, measure.tick(step * index, step))
        )
    slot = (chart.plot_right - chart.plot_left) / max(len(rows), 1)
    bar_width = max(slot * 0.68, 1.0)
    label_every = max(1, math.ceil(len(rows) / layout.max_axis_labels))
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        day = date.fromisoformat(row["key"])
        # A sliver for any non-zero day, so a cheap day is not drawn as no day.
        height = max(plot_height * value / top, 1.5) if value else 0
        center = chart.plot_left + slot * index + slot / 2
        chart.bars.append(
            ChartBar(
                x=round(center - bar_width / 2, 2),
                y=round(chart.plot_bottom - height, 2),
                width=round(bar_width, 2),
                height=round(height, 2),
                title=f"{short_day(day)}: {measure.label(value)}, {row['calls']} calls",
            )
        )
        if index % label_every == 0:
            chart.axis_labels.append(ChartTick(round(center, 2), short_day(day)))
    busiest = max(zip(values, rows, strict=True), key=lambda pair: pair[0], default=None)
    total = measure.label(sum(values))
    chart.description = f"{measure.name} for each of {len(rows)} days; in total {total}." + (
        f" The highest day is {short_day(date.fromisoformat(busiest[1]['key']))} with "
        f"{measure.label(busiest[0])}."
        if busiest and busiest[0]
        else ""
    )
    return chart


def _group_bars(
    layout: ChartLayout, rows: list[dict[str, Any]], measure: _Measure, group_by: str, total_rows: int
) -> Chart:
    chart = Chart(
        layout=layout,
        orientation="bars",
        height=max(len(rows), 1) * layout.row_height + 4,
        title=f"{measure.name} per {group_by}",
        plot_left=layout.label_width,
        plot_right=layout.width - layout.value_width,
    )
    values = [measure.of(row) for row in rows]
    top = max(values, default=0) or 1.0
    span = chart.plot_right - chart.plot_left
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        width = max(span * value / top, 2.0) if value else 0
        y = index * layout.row_height + 8
        label = row["label"]
        if len(label) > layout.label_chars:
            label = label[: layout.label_chars - 1] + "…"
        chart.bars.append(
            ChartBar(
                x=chart.plot_left,
                y=y,
                width=round(width, 2),
                height=20,
                title=f"{row['label']}: {measure.label(value)}, {row['calls']} calls",
                label=label,
                label_x=layout.label_width - 10,
                label_y=y + 14.5,
                value_label=measure.label(value),
                value_x=layout.width - 4,
            )
        )
    shown = f"the {len(rows)} highest of {total_rows}" if total_rows > len(rows) else f"{len(rows)}"
    chart.description = f"{measure.name} for {shown} {group_by}s, highest first." + (
        f" The highest is {rows[0]['label']} with {measure.label(values[0])}." if rows else ""
    )
    return chart


def present_usage_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The table's rows. Days without calls are left out: the chart shows them as gaps."""
    places = usage_cost_places(report)
    rows = []
    for row in report["rows"]:
        if report["group_by"] == "day" and not row["calls"]:
            continue
        day = date.fromisoformat(row["key"]) if report["group_by"] == "day" else None
        rows.append({**row, "day": day, "cost_label": cost_label(row["cost_usd"], places)})
    return rows
