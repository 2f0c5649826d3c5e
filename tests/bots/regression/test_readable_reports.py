"""Regression pages read as finished (issue 14): the judge list offers only models that can judge, and
a report shows answers as safe Markdown and a free run as the tokens it used."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from lxml import html as lxml_html

from bots.models import RegressionRun, RunConfiguration, RunStatus
from bots.regression import services
from core.errors import ValidationFailed
from providers import services as provider_services
from tenants.context import tenant_context
from tests.bots.factories import make_bot
from tests.bots.regression.factories import make_case, make_suite, recorded_run
from tests.bots.regression.helpers import CANDIDATE_MODEL, LIVE_MODEL
from tests.clients import text_of
from tests.providers.factories import enable_models, use_openai
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def judge_options(client: Client, path: str) -> dict[str, str]:
    root = lxml_html.fromstring(client.get(path).content.decode())
    (select,) = root.xpath("//select[@name='judge_model']")
    return {option.get("value"): option.text_content().strip() for option in select.xpath("option")}


def test_the_judge_list_offers_only_models_that_write_answers_and_can_answer_now(
    world: World, owner_client: Client
) -> None:
    use_openai(world, LIVE_MODEL, CANDIDATE_MODEL, "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = make_bot(world, "Shop", chat_model=LIVE_MODEL)

    options = judge_options(owner_client, f"/app/bots/{bot.pk}/suites/")

    assert set(options) == {"", LIVE_MODEL, CANDIDATE_MODEL}  # no no-LLM model, no embedder
    assert options[""] == "No judge: the checks only"


def test_without_a_connected_provider_no_model_is_offered_as_a_judge(
    world: World, owner_client: Client
) -> None:
    enable_models(world, LIVE_MODEL, "local:no-llm", "local:all-MiniLM-L6-v2")  # no OpenAI key
    bot = make_bot(world, "Shop")

    assert set(judge_options(owner_client, f"/app/bots/{bot.pk}/suites/")) == {""}


def test_a_suite_keeps_its_judge_listed_when_that_model_can_no_longer_judge(
    world: World, owner_client: Client
) -> None:
    credential = use_openai(world, LIVE_MODEL, "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = make_bot(world, "Shop", chat_model=LIVE_MODEL)
    suite = services.suite_create(actor=world.actor(), bot_id=bot.pk, name="Refunds", judge_model=LIVE_MODEL)
    provider_services.credential_delete(actor=world.actor(), credential_id=credential.pk)

    options = judge_options(owner_client, f"/app/suites/{suite.pk}/")
    assert re.search(r"\(cannot judge now\)$", options[LIVE_MODEL])


def test_the_no_llm_model_cannot_be_made_a_judge_through_any_door(world: World, owner_client: Client) -> None:
    enable_models(world, "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = make_bot(world, "Shop")

    with pytest.raises(ValidationFailed) as refused:
        services.suite_create(actor=world.actor(), bot_id=bot.pk, name="Refunds", judge_model="local:no-llm")
    assert "does not write answers, so it cannot judge them" in str(refused.value.field_errors)

    response = owner_client.post(
        f"/app/bots/{bot.pk}/suites/", {"name": "Refunds", "schedule": "off", "judge_model": "local:no-llm"}
    )
    assert response.status_code == 400


@pytest.mark.usefixtures("runs_in_process")
def test_a_queued_run_says_what_it_waits_for(world: World, owner_client: Client) -> None:
    use_openai(world, LIVE_MODEL, "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = make_bot(world, "Shop", chat_model=LIVE_MODEL)
    first, second = make_suite(world, bot, "Refunds"), make_suite(world, bot, "Exchanges")
    make_case(world, first)
    make_case(world, second)
    earlier = services.run_start(actor=world.actor(), suite_id=first.pk)
    queued = services.run_start(actor=world.actor(), suite_id=second.pk)

    alone = text_of(owner_client.get(f"/app/runs/{queued.pk}/"))
    assert "Waiting for a worker" in alone

    with tenant_context(world.tenant.pk):
        RegressionRun.objects.filter(pk=earlier.pk).update(status=RunStatus.RUNNING)
    behind = owner_client.get(f"/app/runs/{queued.pk}/progress/", HTTP_HX_REQUEST="true")
    assert "Waiting: 1 other run of your organisation is in progress" in text_of(behind)
    assert "data-wait-reason" in behind.content.decode()


@pytest.mark.usefixtures("runs_in_process")
def test_a_run_report_shows_answers_as_safe_markdown_and_a_free_run_as_tokens(
    world: World, owner_client: Client
) -> None:
    enable_models(world, "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = make_bot(world, "Shop")
    suite = make_suite(world, bot)
    make_case(world, suite, "Refunds?")
    run = recorded_run(
        world,
        suite,
        passes={0: [True]},
        answers={0: ["**Five** days [1]. [x](javascript:alert(1)) <script>alert(1)</script>"]},
    )
    with tenant_context(world.tenant.pk):  # as the runner records what it ran with
        RunConfiguration.objects.filter(run=run).update(settings_used={"chat_model": "local:no-llm"})

    response = owner_client.get(f"/app/runs/{run.pk}/")

    root = lxml_html.fromstring(response.content.decode())
    (answer,) = root.xpath("//div[contains(@class, 'gw-rg-answer')][@data-markdown]")
    assert answer.xpath(".//strong")[0].text == "Five"
    assert not answer.xpath(".//a|.//script")
    assert "<script>alert(1)</script>" in answer.text_content()
    page = text_of(response)
    assert "$0.00" not in page and "free (built-in model)" in page
