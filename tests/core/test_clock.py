"""``core.clock``: the wall clock that time-based rules read. In production it is the system clock and
its signer makes Django's tokens exactly; in tests a manual clock stands still until moved."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core import signing

from core import clock
from core.clock import ManualClock, SystemClock, TimestampSigner

SALT = "groundwork.test.clock"


def test_the_installed_clock_is_the_system_clock_outside_a_test_clock() -> None:
    before = time.time()
    assert before <= clock.epoch_seconds() <= time.time()
    assert isinstance(clock._installed, SystemClock)


def test_a_manual_clock_stands_still_until_moved_and_only_forward(clock: ManualClock) -> None:
    start = clock.epoch_seconds()
    time.sleep(0.01)  # real time passes; the clock does not
    assert clock.epoch_seconds() == start

    clock.advance(60.5)

    assert clock.epoch_seconds() == start + 60.5
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_use_installs_a_clock_for_the_block_only() -> None:
    manual = ManualClock(start=86_400 * 30_000)
    with clock.use(manual):
        assert clock.epoch_seconds() == 86_400 * 30_000
    assert isinstance(clock._installed, SystemClock)


def test_the_fixtures_clock_starts_where_every_window_begins(clock: ManualClock) -> None:
    assert clock.epoch_seconds() % 86_400 == 0 and clock.epoch_seconds() > time.time()


def test_the_signer_makes_djangos_tokens_byte_for_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    instant = 1_900_000_000.7
    monkeypatch.setattr(signing.time, "time", lambda: instant)  # what Django's own signer reads
    with clock.use(ManualClock(start=instant)):
        ours = TimestampSigner(salt=SALT).sign_object({"b": "bot", "v": "visitor"})
    assert ours == signing.dumps({"b": "bot", "v": "visitor"}, salt=SALT)
    assert signing.loads(ours, salt=SALT, max_age=3600) == {"b": "bot", "v": "visitor"}


def test_tokens_signed_before_the_change_are_still_read_on_the_system_clock() -> None:
    token = signing.dumps({"b": "bot"}, salt=SALT)
    assert TimestampSigner(salt=SALT).unsign_object(token, max_age=3600) == {"b": "bot"}
    with pytest.raises(signing.BadSignature):
        TimestampSigner(salt="another salt").unsign_object(token, max_age=3600)


@pytest.mark.parametrize("max_age", [3600, timedelta(hours=1)])
def test_a_token_expires_when_the_clock_passes_its_age(clock: ManualClock, max_age: int | timedelta) -> None:
    token = TimestampSigner(salt=SALT).sign_object({"b": "bot"})

    clock.advance(3600)
    assert TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age) == {"b": "bot"}  # exactly an hour
    clock.advance(1)
    with pytest.raises(signing.SignatureExpired):
        TimestampSigner(salt=SALT).unsign_object(token, max_age=max_age)
    assert TimestampSigner(salt=SALT).unsign_object(token) == {"b": "bot"}  # no age given: no expiry
