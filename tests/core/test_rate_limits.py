"""Rate limits in fixed windows, counted in Redis on ``core.clock``: a window closes when the clock
passes it, and a refusal says how long is left in the window."""

from __future__ import annotations

import uuid

from core import rate_limits as limits
from core.clock import ManualClock


def test_a_window_admits_its_count_then_refuses_until_the_clock_passes_it(clock: ManualClock) -> None:
    rate, subject = limits.Rate.parse("3/minute"), uuid.uuid4().hex

    assert [limits.hit("test", subject, rate) for _ in range(4)] == [0, 0, 0, 60]  # the clock stands still
    clock.advance(59)
    assert limits.hit("test", subject, rate) == 1  # a second left in the window
    clock.advance(1)
    assert [limits.hit("test", subject, rate) for _ in range(4)] == [0, 0, 0, 60]  # a new window


def test_subjects_and_scopes_count_apart(clock: ManualClock) -> None:
    rate, subject = limits.Rate.parse("1/hour"), uuid.uuid4().hex

    assert limits.hit("test", subject, rate) == 0
    assert limits.hit("test", uuid.uuid4().hex, rate) == 0
    assert limits.hit("another test", subject, rate) == 0
    assert limits.hit("test", subject, rate) == 3600
