"""One declaration per bot setting (bots.bot_settings): the service, the REST API, the builder form and
regression candidates are derived from it and agree with each other."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import serializers

from bots import bot_settings, services
from bots.forms import BotForm
from bots.regression import services as regression_services
from bots.regression.serializers import RunOverridesInput
from bots.serializers import BotInput, BotOutput
from core.errors import ValidationFailed
from tests.bots.factories import make_bot
from tests.tenants.factories import make_world


def test_every_declared_setting_is_an_api_input_and_output_field() -> None:
    assert list(BotInput().fields) == ["name", "knowledge_bases", *bot_settings.NAMES[1:]]
    output = list(BotOutput().fields)
    assert set(bot_settings.NAMES) <= set(output)
    assert set(services.BOT_FIELDS) == set(bot_settings.NAMES)


@pytest.mark.parametrize("setting", [s for s in bot_settings.SETTINGS if s.minimum is not None], ids=str)
def test_api_and_form_bounds_are_the_declared_ones(setting: bot_settings.BotSetting) -> None:
    field = BotInput().fields[setting.name]
    assert float(field.min_value) == float(setting.minimum or 0)  # type: ignore[attr-defined]
    if setting.maximum is not None:
        assert float(field.max_value) == float(setting.maximum)  # type: ignore[attr-defined]
        form_field = BotForm.base_fields[setting.name]
        assert float(form_field.max_value) == float(setting.maximum)  # type: ignore[attr-defined]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("setting", "outside"),
    [
        ("temperature", 2.5),
        ("max_output_tokens", 8),
        ("retrieval_top_k", 0),
        ("retrieval_score_threshold", 1.5),
        ("retrieval_mode", "telepathy"),
        ("widget_color", "red"),
        ("daily_budget_usd", "-1"),
    ],
)
def test_the_service_refuses_what_the_declaration_bounds(setting: str, outside: Any) -> None:
    world = make_world()
    bot = make_bot(world)
    with pytest.raises(ValidationFailed) as refused:
        services.bot_update(actor=world.actor(), bot_id=bot.pk, **{setting: outside})
    assert setting in refused.value.field_errors
    declared = bot_settings.SETTINGS_BY_NAME[setting].refusal
    if declared:
        assert refused.value.message == declared


def test_regression_candidates_may_change_exactly_the_declared_candidate_settings() -> None:
    fields = RunOverridesInput().fields
    assert set(fields) == {*bot_settings.CANDIDATE_NAMES, "embedding_model"}
    assert set(regression_services.OVERRIDABLE) == set(fields)
    assert isinstance(fields["retrieval_top_k"], serializers.IntegerField)
    assert set(bot_settings.CANDIDATE_NAMES) <= set(bot_settings.SNAPSHOT_NAMES)
