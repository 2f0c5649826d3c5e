"""The owner's widget preview says why the bot's model cannot answer (issue 14): ``owner_notice`` in the
configuration a preview token reads, with the readiness problem and its fix; never for visitors."""

from __future__ import annotations

import pytest
from django.test import Client

from bots.widget import rules as widget_rules
from tests.bots.factories import SITE, published_bot
from tests.bots.widget.helpers import base
from tests.providers.factories import enable_models, use_openai
from tests.tenants.factories import World

pytestmark = pytest.mark.django_db


def test_the_preview_of_a_bot_whose_model_cannot_answer_carries_the_problem_and_its_fix(world: World) -> None:
    enable_models(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2")  # no OpenAI key
    bot = published_bot(world, chat_model="openai:gpt-4o-mini")
    preview = {"Groundwork-Preview": widget_rules.preview_token(bot, user=world.owner)}

    owner = Client().get(base(bot), headers={**preview, "Origin": "http://testserver"}).json()
    visitor = Client().get(base(bot), headers={"Origin": SITE}).json()

    notice = owner["owner_notice"]
    assert "OpenAI" in notice["problem"]
    assert notice["fix_label"] == "Add your OpenAI key"
    assert notice["fix_url"] == "/app/models/?add=openai#providers"
    assert "owner_notice" not in visitor  # a visitor never learns the tenant's configuration problems
    assert visitor["name"] == owner["name"]


def test_the_no_llm_model_is_explained_to_the_owner_only(world: World) -> None:
    bot = published_bot(world)  # the built-in models: the no-LLM answerer
    preview = {"Groundwork-Preview": widget_rules.preview_token(bot, user=world.owner)}

    owner = Client().get(base(bot), headers={**preview, "Origin": "http://testserver"}).json()

    assert owner["owner_notice"]["problem"]
    assert "owner_notice" not in Client().get(base(bot), headers={"Origin": SITE}).json()


def test_a_bot_that_can_answer_has_no_notice_in_its_preview(world: World) -> None:
    use_openai(world, "openai:gpt-4o-mini", "local:no-llm", "local:all-MiniLM-L6-v2")
    bot = published_bot(world, chat_model="openai:gpt-4o-mini")
    preview = {"Groundwork-Preview": widget_rules.preview_token(bot, user=world.owner)}

    owner = Client().get(base(bot), headers={**preview, "Origin": "http://testserver"}).json()

    assert "owner_notice" not in owner
