"""core/: the plumbing every app shares."""

from __future__ import annotations

import pytest

from core.spreadsheets import csv_line, defused, undefused
from core.tasks import BackoffTask


def test_task_retries_wait_ten_forty_one_hundred_sixty_and_six_hundred_forty_seconds() -> None:
    assert [BackoffTask().retry_delay(retries) for retries in range(4)] == [10, 40, 160, 640]


@pytest.mark.parametrize("cell", ["=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_are_defused_for_spreadsheets_and_restored_on_import(cell: str) -> None:
    assert defused(cell) == "'" + cell
    assert undefused(defused(cell)) == cell


def test_a_csv_line_defuses_every_cell() -> None:
    assert csv_line(["=HYPERLINK(1)", None, 3, "plain"]) == "'=HYPERLINK(1),,3,plain\r\n"


def test_plain_cells_pass_through_both_ways() -> None:
    assert defused("Refunds take 14 days") == "Refunds take 14 days"
    assert undefused("'quoted by hand") == "'quoted by hand"
