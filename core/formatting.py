"""How figures read on the dashboard: durations, elapsed times and shares."""

from __future__ import annotations

from datetime import datetime


def duration_label(milliseconds: int | None) -> str:
    """A measured duration: "850 ms", "2.4 s"; "—" when it was not measured."""
    if milliseconds is None:
        return "—"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    return f"{milliseconds / 1000:.1f} s"


def elapsed_label(started_at: datetime | None, finished_at: datetime | None) -> str:
    """How long something ran: "42 s", "3 min 5 s", "1 h 12 min"; empty until it has finished."""
    if not started_at or not finished_at:
        return ""
    seconds = max(0, round((finished_at - started_at).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def percent(rate: float | None) -> int | None:
    """A share from 0 to 1 as a whole percentage."""
    return None if rate is None else round(rate * 100)
