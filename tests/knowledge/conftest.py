"""Fixtures of the knowledge app. Knowledge bases and documents are made by tests/knowledge/factories.py;
waiting for the worker and checking stored chunks: tests/knowledge/helpers.py; sample files of every
type: tests/knowledge/corpus.py; the retrieval benchmark's articles: tests/knowledge/retrieval_corpus.py.
"""

from __future__ import annotations

import pytest

from knowledge import services
from knowledge.models import KnowledgeBase
from tests.knowledge.factories import make_knowledge_base
from tests.tenants.factories import World


@pytest.fixture
def knowledge_base(world: World) -> KnowledgeBase:
    """An empty knowledge base of ``world`` on the built-in embedding model."""
    return make_knowledge_base(world)


@pytest.fixture
def enqueue_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents created by the test are queued by the test itself, where and when it chooses."""
    monkeypatch.setattr(services, "_enqueue_ingest", lambda document: None)
