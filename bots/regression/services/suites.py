"""Writes of regression suites: create, update (name, rubric, judge, schedule, drift tolerance), delete."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

from bots import bot_settings
from bots import selectors as bot_selectors
from bots.models import (
    RegressionSuite,
    SuiteSchedule,
)
from bots.regression import selectors
from core.database import save_or_conflict
from core.errors import ValidationFailed
from providers.readiness import chat_model_readiness
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit

SCHEDULE_PERIODS = {SuiteSchedule.DAILY: timedelta(days=1), SuiteSchedule.WEEKLY: timedelta(days=7)}


def _check_suite(tenant: Tenant, values: dict[str, Any]) -> dict[str, Any]:
    checked = dict(values)
    if "name" in checked:
        checked["name"] = str(checked["name"]).strip()[:120]
        if not checked["name"]:
            raise ValidationFailed.on("name", "Give the suite a name.")
    if checked.get("judge_model"):
        bot_settings.check_chat_model(tenant, checked["judge_model"], "judge_model")
        judge = chat_model_readiness(tenant=tenant, ref=checked["judge_model"])
        if not judge.writes_answers:
            # The no-LLM model only quotes passages: it cannot read an answer and grade it.
            raise ValidationFailed.on(
                "judge_model",
                f"{judge.display_name} does not write answers, so it cannot judge them. "
                "Choose a language model, or no judge.",
            )
    if "schedule" in checked and checked["schedule"] not in SuiteSchedule.values:
        raise ValidationFailed.on("schedule", "Choose off, daily or weekly.")
    if "drift_tolerance" in checked and not 0.0 <= float(checked["drift_tolerance"]) <= 1.0:
        raise ValidationFailed.on(
            "drift_tolerance", "The tolerance is a share of the cases, between 0 and 1."
        )
    if "judge_rubric" in checked:
        checked["judge_rubric"] = str(checked["judge_rubric"]).strip()[:4000]
    return checked


def next_run_at(schedule: str) -> Any:
    period = SCHEDULE_PERIODS.get(SuiteSchedule(schedule))
    return timezone.now() + period if period else None


@runs_in_actor_tenant
def suite_create(*, actor: Actor, bot_id: uuid.UUID | str, name: str, **values: Any) -> RegressionSuite:
    actor.require(Role.EDITOR, "create regression suites")
    unknown = set(values) - {"description", "judge_model", "judge_rubric", "schedule", "drift_tolerance"}
    if unknown:
        raise ValidationFailed(f"Unknown suite settings: {', '.join(sorted(unknown))}.")
    bot = bot_selectors.bot_get(tenant=actor.tenant, bot_id=bot_id)
    checked = _check_suite(actor.tenant, {"name": name, **values})
    suite = RegressionSuite(tenant=actor.tenant, bot=bot, created_by=actor.user, **checked)
    suite.next_run_at = next_run_at(suite.schedule)
    save_or_conflict(suite, message=f"{bot.name} already has a suite named “{suite.name}”.")
    audit(
        actor, action="regression_suite.created", target=suite, changes={"name": suite.name, "bot": bot.name}
    )
    return suite


@runs_in_actor_tenant
def suite_update(*, actor: Actor, suite_id: uuid.UUID | str, **changes: Any) -> RegressionSuite:
    actor.require(Role.EDITOR, "change regression suites")
    unknown = set(changes) - {
        "name",
        "description",
        "judge_model",
        "judge_rubric",
        "schedule",
        "drift_tolerance",
    }
    if unknown:
        raise ValidationFailed(f"Unknown suite settings: {', '.join(sorted(unknown))}.")
    suite = suite_for_update(actor.tenant, suite_id)
    checked = _check_suite(actor.tenant, changes)
    if "schedule" in checked and checked["schedule"] != suite.schedule:
        suite.next_run_at = next_run_at(checked["schedule"])
    for name, value in checked.items():
        setattr(suite, name, value)
    save_or_conflict(suite, message="Another suite of this bot has that name.")
    audit(actor, action="regression_suite.updated", target=suite, changes={"fields": sorted(checked)})
    return suite


@runs_in_actor_tenant
def suite_delete(*, actor: Actor, suite_id: uuid.UUID | str) -> None:
    actor.require(Role.EDITOR, "delete regression suites")
    suite = suite_for_update(actor.tenant, suite_id)
    audit(actor, action="regression_suite.deleted", target=suite, changes={"name": suite.name})
    suite.delete()


def suite_for_update(tenant: Tenant, suite_id: uuid.UUID | str) -> RegressionSuite:
    suite = selectors.suite_get(tenant=tenant, suite_id=suite_id)
    return (
        RegressionSuite.objects.for_tenant(tenant).select_for_update().select_related("bot").get(pk=suite.pk)
    )
