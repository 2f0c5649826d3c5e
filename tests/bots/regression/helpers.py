"""What regression tests share besides fixtures and factories: the models compared, the questions the
policy answers, scripting the stub's good answers, and where runs are enqueued."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import transaction

from bots.models import RegressionRun
from bots.regression import services, tasks
from tests.stubs.openai_stub import OpenAIStub

LIVE_MODEL, CANDIDATE_MODEL, UNTESTED_MODEL = "openai:gpt-4o-mini", "openai:gpt-4.1-mini", "openai:gpt-4o"
POLICY = (
    "# Refunds\n\nRefunds for card payments take five working days after we receive the returned item.\n\n"
    "## Exchanges\n\nExchanges for another size are free within thirty days of delivery."
)
REFUND_QUESTION = "How long do card refunds take?"
EXCHANGE_QUESTION = "Are exchanges free?"
OFF_TOPIC_QUESTION = "Who won the football world cup in 1966?"


def script_good_answers(stub: OpenAIStub, model: str) -> None:
    """``model`` answers the policy's two questions correctly, citing the policy."""
    stub.script(model, REFUND_QUESTION, "Card refunds take five working days [1].")
    stub.script(model, EXCHANGE_QUESTION, "Yes: exchanges are free within thirty days of delivery [1].")


@contextlib.contextmanager
def enqueue_to(queue: str | None) -> Iterator[None]:
    """Send runs to ``queue`` (a worker the test started), or nowhere (the test runs them in process)."""
    original = services.runs._enqueue

    def enqueue(run: RegressionRun) -> None:
        if queue is not None:
            tenant_id, run_id = str(run.tenant_id), str(run.pk)
            transaction.on_commit(
                lambda: tasks.run_regression_suite.apply_async(args=[tenant_id, run_id], queue=queue)
            )

    services.runs._enqueue = enqueue  # type: ignore[assignment]
    try:
        yield
    finally:
        services.runs._enqueue = original  # type: ignore[assignment]
