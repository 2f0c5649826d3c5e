"""The bots list and a bot's regression suites cost the same number of queries however many rows they
show (no query per bot or per suite)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bots.models import Bot
from bots.regression import services as regression_services
from tests.bots.factories import make_bot
from tests.bots.regression.factories import make_case, make_suite
from tests.knowledge.factories import make_knowledge_base
from tests.tenants.factories import World


def queries_for(client: Client, url: str) -> int:
    client.get(url)  # what a first request reads once per session is not what is measured
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def add_bot(world: World, number: int) -> Bot:
    base = make_knowledge_base(world, f"Docs {number}")
    return make_bot(world, f"Helper {number}", knowledge_base_ids=[base.pk])


@pytest.mark.django_db
def test_the_bots_list_reads_its_bots_knowledge_bases_in_one_query(
    world: World, owner_client: Client
) -> None:
    client = owner_client
    add_bot(world, 1)
    one = queries_for(client, "/app/bots/")
    for number in range(2, 6):
        add_bot(world, number)
    assert queries_for(client, "/app/bots/") == one


@pytest.mark.django_db
def test_a_bots_suites_page_reads_their_latest_runs_in_a_fixed_number_of_queries(
    world: World, owner_client: Client
) -> None:
    client = owner_client
    bot = add_bot(world, 1)
    url = f"/app/bots/{bot.pk}/suites/"

    def add_suite_with_a_run(number: int) -> None:
        suite = make_suite(world, bot, f"Suite {number}")
        make_case(world, suite, "Refunds?")
        regression_services.run_start(actor=world.actor(), suite_id=suite.pk)

    add_suite_with_a_run(1)
    one = queries_for(client, url)
    for number in range(2, 6):
        add_suite_with_a_run(number)
    assert queries_for(client, url) == one
