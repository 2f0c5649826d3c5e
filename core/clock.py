"""The wall clock that rules deciding by elapsed time read, behind one indirection tests can move.

Rate-limit windows (``core.rate_limits``) and signed tokens that expire (``bots.widget.rules``) read
``epoch_seconds()`` instead of ``time.time()``. In production the installed clock is the system clock and
nothing replaces it. A test installs a ``ManualClock`` with ``use(...)`` (the suite's ``clock`` fixture)
and moves it forward, instead of sleeping until a window closes or a token expires.

The clock is per process: a worker or a server the tests start keeps the system clock.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from django.core import signing


class Clock(Protocol):
    def epoch_seconds(self) -> float: ...


class SystemClock:
    def epoch_seconds(self) -> float:
        return time.time()


class ManualClock:
    """A clock that stands still until it is moved (for tests): every reader, in any thread, sees the
    same instant until ``advance``."""

    def __init__(self, start: float) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def epoch_seconds(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("A clock only moves forward.")
        with self._lock:
            self._now += seconds


_installed: Clock = SystemClock()


def epoch_seconds() -> float:
    """Seconds since the epoch, as ``time.time()`` gives them, from the installed clock."""
    return _installed.epoch_seconds()


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Install ``clock`` for the duration of the block, then restore the one before."""
    global _installed
    previous, _installed = _installed, clock
    try:
        yield clock
    finally:
        _installed = previous


class TimestampSigner(signing.TimestampSigner):
    """Django's ``TimestampSigner`` on this clock: the same tokens, byte for byte, and the same age
    check, with the time read from ``epoch_seconds()`` instead of ``time.time()``."""

    def timestamp(self) -> str:
        return signing.b62_encode(int(epoch_seconds()))

    def unsign(self, value: str, max_age: float | datetime.timedelta | None = None) -> str:
        # ``Signer.unsign`` checks the signature; the age check below is TimestampSigner's own.
        payload, timestamp = signing.Signer.unsign(self, value).rsplit(self.sep, 1)
        if max_age is not None:
            if isinstance(max_age, datetime.timedelta):
                max_age = max_age.total_seconds()
            age = epoch_seconds() - signing.b62_decode(timestamp)
            if age > max_age:
                raise signing.SignatureExpired(f"Signature age {age} > {max_age} seconds")
        return payload
