"""Writes about regression suites: suites and cases, starting runs, and the records a run leaves.

A run never changes the live bot: each configuration is the bot's settings at the start of the run with a
candidate's overrides applied to an unsaved copy (``bots.regression.runner``). Results are stored once
per (configuration, case) — a unique constraint — so a run that restarts after its worker died carries on
where it was and never stores a case twice.

One module per sub-domain (``suites``, ``cases``, ``runs``); callers use this package's names.
"""

from bots.regression.services.cases import (
    MAX_CASES_PER_SUITE,
    case_create,
    case_delete,
    case_from_message,
    case_update,
    cases_import,
)
from bots.regression.services.runs import (
    MAX_CANDIDATES,
    MAX_RUN_ATTEMPTS,
    OVERRIDABLE,
    SEARCH_MODES,
    describe,
    run_acknowledge_drift,
    run_claim,
    run_configuration_scratch_index,
    run_fail,
    run_finish,
    run_pause,
    run_record_result,
    run_start,
    runs_recover_stalled,
    start_scheduled_runs,
)
from bots.regression.services.suites import (
    SCHEDULE_PERIODS,
    next_run_at,
    suite_create,
    suite_delete,
    suite_for_update,
    suite_update,
)

__all__ = [
    "MAX_CANDIDATES",
    "MAX_CASES_PER_SUITE",
    "MAX_RUN_ATTEMPTS",
    "OVERRIDABLE",
    "SCHEDULE_PERIODS",
    "SEARCH_MODES",
    "case_create",
    "case_delete",
    "case_from_message",
    "case_update",
    "cases_import",
    "describe",
    "next_run_at",
    "run_acknowledge_drift",
    "run_claim",
    "run_configuration_scratch_index",
    "run_fail",
    "run_finish",
    "run_pause",
    "run_record_result",
    "run_start",
    "runs_recover_stalled",
    "start_scheduled_runs",
    "suite_create",
    "suite_delete",
    "suite_for_update",
    "suite_update",
]
