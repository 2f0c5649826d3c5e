"""Regression runs per day (tenants.quotas): a run past the plan's daily quota is refused clearly with
nothing queued, by hand, through the API or on schedule (kept as a failed run saying why); runs started
together cannot pass it; yesterday's runs do not count."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bots.models import RegressionRun, RegressionSuite
from bots.regression import services
from tenants import quotas
from tenants.context import tenant_context
from tests.bots.factories import make_bot
from tests.bots.regression.factories import make_case, make_suite
from tests.clients import assert_problem, post_json, text_of
from tests.tenants.factories import World, make_world

API = "/api/v1"


def suite_with_a_case(world: World) -> RegressionSuite:
    suite = make_suite(world, make_bot(world, "Shop"))
    make_case(world, suite, "Refunds?")
    return suite


def runs_of(world: World) -> list[RegressionRun]:
    with tenant_context(world.tenant.pk):
        return list(RegressionRun.objects.order_by("created_at"))


@pytest.mark.django_db
def test_the_run_past_the_daily_quota_is_refused_and_yesterdays_runs_do_not_count(
    world: World, editor: Client, settings: Any, runs_in_process: None
) -> None:
    settings.QUOTA_REGRESSION_RUNS_PER_DAY = {"free": 2}
    suite = suite_with_a_case(world)
    path = f"{API}/suites/{suite.pk}/runs"
    assert post_json(editor, path, {}).status_code == 202
    assert post_json(editor, path, {}).status_code == 202

    problem = assert_problem(post_json(editor, path, {}), 403)

    assert problem["detail"].startswith(
        "Your organisation has started 2 regression runs today, the most the Free plan includes (2 a day). "
        "Runs can start again at midnight UTC (in "
    )
    assert problem["detail"].endswith("), or ask us about a larger plan.")
    assert len(runs_of(world)) == 2

    with tenant_context(world.tenant.pk):
        RegressionRun.objects.update(created_at=quotas.start_of_today() - timedelta(seconds=1))
    assert post_json(editor, path, {}).status_code == 202


@pytest.mark.django_db
def test_the_dashboard_says_why_a_run_was_not_started(
    world: World, owner_client: Client, settings: Any, runs_in_process: None
) -> None:
    settings.QUOTA_REGRESSION_RUNS_PER_DAY = {"free": 0}
    suite = suite_with_a_case(world)

    response = owner_client.post(reverse("dashboard:suite_run", args=[suite.pk]), {"include_live": "on"})

    assert response.status_code == 400
    assert "the most the Free plan includes (0 a day)" in text_of(response)
    assert runs_of(world) == []


@pytest.mark.django_db
def test_a_scheduled_run_past_the_quota_is_kept_as_a_failed_run_saying_why(
    world: World, settings: Any, runs_in_process: None
) -> None:
    settings.QUOTA_REGRESSION_RUNS_PER_DAY = {"free": 1}
    suite = suite_with_a_case(world)
    services.run_start(actor=world.actor(), suite_id=suite.pk)
    services.suite_update(actor=world.actor(), suite_id=suite.pk, schedule="daily")
    with tenant_context(world.tenant.pk):
        RegressionSuite.objects.filter(pk=suite.pk).update(next_run_at=timezone.now() - timedelta(minutes=1))

    started = services.start_scheduled_runs()

    assert started == []
    manual, scheduled = runs_of(world)
    assert (manual.trigger, manual.status) == ("manual", "queued")
    assert (scheduled.trigger, scheduled.status) == ("scheduled", "failed")
    assert scheduled.error_message.startswith("Your organisation has started 1 regression runs today")


@pytest.mark.django_db(transaction=True)
def test_runs_started_together_cannot_pass_the_quota(settings: Any, runs_in_process: None) -> None:
    """Eight runs of eight suites at once against room for three: the count is taken under the tenant's
    row lock (the locks of a suite and its bot do not serialise runs of different bots)."""
    settings.QUOTA_REGRESSION_RUNS_PER_DAY = {"free": 3}
    world = make_world()
    # Each on a bot of its own: starting a run locks its suite and its bot, not the others'.
    suites = [make_suite(world, make_bot(world, f"Shop {number}")) for number in range(8)]
    for suite in suites:
        make_case(world, suite, "Refunds?")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def run(suite: RegressionSuite) -> None:
        try:
            start.wait()
            services.run_start(actor=world.actor(), suite_id=suite.pk)
            outcomes.append("started")
        except quotas.QuotaExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(suite,)) for suite in suites]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused"] * 5 + ["started"] * 3
    assert len(runs_of(world)) == 3
