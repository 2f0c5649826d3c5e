"""Crawl pages per day (tenants.quotas, knowledge.services): a crawl is refused when the day's pages are
used up, reads at most what is left (reserved when its run starts), and gives back what it reserved but
did not read. The pipeline runs in this process on pages served from 127.0.0.1."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from knowledge import pipeline, services
from knowledge.models import Document
from tenants import quotas
from tenants.context import tenant_context
from tests.clients import api_client, assert_problem, post_json
from tests.knowledge.factories import make_knowledge_base
from tests.tenants.factories import World, make_world


def documents_path(knowledge_base_id: uuid.UUID) -> str:
    return f"/api/v1/knowledge-bases/{knowledge_base_id}/documents"


class LinkedSite:
    """``pages`` HTML pages on 127.0.0.1, each linking to all the others."""

    def __init__(self, pages: int) -> None:
        paths = [f"/page-{number}" for number in range(pages)]

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path not in paths:
                    body, status = b"missing", 404
                else:
                    links = "".join(f'<a href="{path}">{path}</a> ' for path in paths)
                    words = " ".join(f"word{self.path[6:]}x{n}" for n in range(60))
                    body = f"<html><body><h1>{self.path}</h1><p>{words}</p>{links}</body></html>".encode()
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/page-0"


@pytest.fixture
def linked_site(settings: Any) -> Iterator[LinkedSite]:
    settings.FETCH_ALLOW_LOOPBACK = True  # the pipeline runs in this process here
    settings.CRAWL_MAX_DELAY_SECONDS = 0.0
    site = LinkedSite(8)
    threading.Thread(target=site.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield site
    site.server.shutdown()


def crawl(world: World, site: LinkedSite, client: Client, max_pages: int) -> Any:
    knowledge_base = make_knowledge_base(world, f"Site {uuid.uuid4().hex[:6]}")
    return post_json(
        client, documents_path(knowledge_base.pk), {"crawl": {"url": site.url, "max_pages": max_pages}}
    )


def document(world: World, document_id: str) -> Document:
    with tenant_context(world.tenant.pk):
        return Document.objects.get(pk=document_id)


@pytest.mark.django_db(transaction=True)
def test_a_crawl_reads_at_most_the_pages_left_today_and_the_next_is_refused(
    linked_site: LinkedSite, settings: Any, enqueue_nothing: None
) -> None:
    settings.QUOTA_CRAWL_PAGES_PER_DAY = {"free": 5}
    world = make_world()
    editor = api_client(world.api_key()[1])
    first = crawl(world, linked_site, editor, max_pages=3)
    second = crawl(world, linked_site, editor, max_pages=50)  # accepted: 5 pages are left when it is added
    assert first.status_code == second.status_code == 202

    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=first.json()["id"]) == "ready"
    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=second.json()["id"]) == "ready"

    # The second crawl asked for 50 pages of a site of 8 and read the 2 that were left.
    assert document(world, first.json()["id"]).pages == 3
    assert document(world, second.json()["id"]).pages == 2
    assert quotas.crawl_pages_used(tenant_id=world.tenant.pk) == 5
    problem = assert_problem(crawl(world, linked_site, editor, max_pages=1), 403)
    assert problem["detail"].startswith(
        "Your organisation's crawls have read 5 pages today, the most the Free plan includes. "
        "Crawls can read again at midnight UTC (in "
    )
    assert problem["detail"].endswith("), or ask us about a larger plan.")
    # Re-crawling a document is refused too, and a re-sync that beat queues ends failed, saying why.
    crawled = document(world, first.json()["id"])
    reingest = f"{documents_path(crawled.knowledge_base_id)}/{crawled.pk}/reingest"
    assert_problem(editor.post(reingest), 403)
    assert len(services.resync_due_web_sources(now=timezone.now() + timedelta(days=2))) == 2
    assert pipeline.ingest(tenant_id=world.tenant.pk, document_id=first.json()["id"]) == "skipped"
    resynced = document(world, first.json()["id"])
    assert resynced.status == "failed"
    assert resynced.failure_reason.startswith("Your organisation's crawls have read 5 pages today")


@pytest.mark.django_db(transaction=True)
def test_pages_a_crawl_reserved_but_did_not_read_are_given_back(
    linked_site: LinkedSite, settings: Any, enqueue_nothing: None
) -> None:
    settings.QUOTA_CRAWL_PAGES_PER_DAY = {"free": 30}
    world = make_world()
    editor = api_client(world.api_key()[1])
    response = crawl(world, linked_site, editor, max_pages=20)

    job = services.document_claim(tenant_id=world.tenant.pk, document_id=response.json()["id"])
    assert job is not None and job.crawl_max_pages == 20
    assert quotas.crawl_pages_used(tenant_id=world.tenant.pk) == 20  # reserved while it runs
    pipeline.run(job)

    assert document(world, response.json()["id"]).pages == 8  # the whole site
    assert quotas.crawl_pages_used(tenant_id=world.tenant.pk) == 8
    assert quotas.crawl_pages_left(world.tenant) == 22


@pytest.mark.django_db
def test_crawl_reservations_never_grant_more_than_the_day_holds(world: World, settings: Any) -> None:
    settings.QUOTA_CRAWL_PAGES_PER_DAY = {"free": 100}
    grants = [quotas.reserve_crawl_pages(tenant=world.tenant, wanted=30)[0] for _ in range(5)]
    assert grants == [30, 30, 30, 10, 0]
    quotas.release_crawl_pages(tenant_id=world.tenant.pk, day=quotas.today(), pages=500)
    assert quotas.crawl_pages_used(tenant_id=world.tenant.pk) == 0  # never below zero

    settings.QUOTA_CRAWL_PAGES_PER_DAY = {"team": 100}  # the Free plan without a limit
    assert quotas.reserve_crawl_pages(tenant=world.tenant, wanted=400)[0] == 400
    assert quotas.crawl_pages_left(world.tenant) is None
