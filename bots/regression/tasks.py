"""Celery tasks for bots: regression runs, their schedule and their sweep. Ids in, idempotent; acks late
and reject on worker lost are on for every task (settings), so a run whose worker died is redelivered and
carries on where it was (``bots.regression.runner``)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from bots.regression import runner, services
from core.tasks import BackoffTask
from providers.errors import ProviderError

logger = logging.getLogger(__name__)

MAX_RETRIES = 4


@shared_task(
    bind=True,
    base=BackoffTask,
    name="bots.run_regression_suite",
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=MAX_RETRIES,
    soft_time_limit=settings.REGRESSION_TASK_SECONDS * 4,
    time_limit=settings.REGRESSION_TASK_SECONDS * 4 + 60,
)
def run_regression_suite(self: Task, tenant_id: str, run_id: str) -> str:
    """Answer and score the run's cases for up to REGRESSION_TASK_SECONDS, then continue in a new task."""
    try:
        outcome = runner.execute(
            tenant_id=tenant_id, run_id=run_id, time_budget_seconds=settings.REGRESSION_TASK_SECONDS
        )
    except (OperationalError, InterfaceError):
        raise  # the database is away: retried as declared (autoretry_for)
    except ProviderError as error:
        # Answers carry their own provider failures; this is the scratch index's embedding model failing.
        if error.retryable and self.request.retries < MAX_RETRIES:
            raise self.retry(exc=error) from error
        services.run_fail(tenant_id=tenant_id, run_id=run_id, reason=error.message)
        return "failed"
    except Exception:
        logger.exception("regression run %s of tenant %s failed unexpectedly", run_id, tenant_id)
        services.run_fail(
            tenant_id=tenant_id,
            run_id=run_id,
            reason="An unexpected error stopped the run. We have been notified.",
        )
        return "failed"
    if outcome == runner.CONTINUE:
        run_regression_suite.delay(tenant_id, run_id)
    return outcome


@shared_task(name="bots.start_scheduled_runs")
def start_scheduled_runs() -> int:
    return len(services.start_scheduled_runs())


@shared_task(name="bots.recover_stalled_runs")
def recover_stalled_runs() -> int:
    # Longer than a task may run: a live run's heartbeat moves with every stored case.
    stalled_after = timedelta(seconds=settings.REGRESSION_TASK_SECONDS * 4 + 120)
    return len(services.runs_recover_stalled(stalled_after=stalled_after))
