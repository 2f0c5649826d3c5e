"""The chat engine: one turn of a conversation, from question to stored answer, streamed as it happens.

    admit (rate limits, budgets, store the question) → rewrite a follow-up to stand alone → embed it →
    retrieve (hybrid, the bot's knowledge bases only) → strict policy: nothing relevant, no model call →
    prompt within the context window → stream through the gateway → store the answer with its usage

It is async end to end: database work runs in threads (``sync_to_async``), model calls are awaited, and
nothing holds a database transaction while a model speaks. Callers iterate :func:`converse`; closing the
iterator (a visitor who left: the ASGI server cancels the response) closes the model's stream at once,
and what was used is metered and the partial answer stored as cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from bots.chat import prompt
from bots.chat import services as chat_services
from bots.chat.services import AnswerRecord
from bots.models import AnswerPolicy, Bot, Channel, MessageOutcome
from core.errors import GroundworkError, ValidationFailed
from knowledge import retrieval
from knowledge.models import KnowledgeBase, RetrievalMode
from knowledge.retrieval import SearchResult
from providers import gateway
from providers import selectors as provider_selectors
from providers.adapters.base import Audience, ChatMessage, Completed, Passage, TextDelta
from providers.adapters.local import NO_LLM_VISITOR_NOTHING_FOUND
from providers.budgets import Budget
from providers.errors import ProviderError
from providers.models import ModelKind, UsageRecord
from tenants.context import tenant_context
from tenants.models import User

logger = logging.getLogger(__name__)

NO_LLM_MODEL = "local:no-llm"
SNIPPET_CHARACTERS = 240


@dataclass(frozen=True)
class TurnStarted:
    conversation_id: uuid.UUID
    question_id: uuid.UUID


@dataclass(frozen=True)
class Sources:
    citations: list[dict[str, Any]]  # what the visitor may see (empty when the bot hides citations)
    retrieved: list[dict[str, Any]]  # every retrieved chunk with its score, for the builder's playground
    standalone_question: str


@dataclass(frozen=True)
class Token:
    text: str


@dataclass(frozen=True)
class TurnFinished:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    content: str
    outcome: str
    citations: list[dict[str, Any]]
    model_version: str
    input_tokens: int
    output_tokens: int
    cost_usd: Decimal
    latency_ms: int
    time_to_first_token_ms: int | None


EngineEvent = TurnStarted | Sources | Token | TurnFinished


@dataclass
class _Turn:
    """What one turn has gathered so far: enough to store it whenever it ends."""

    bot: Bot  # loaded with its tenant: async code may not lazy-load it
    knowledge_bases: list[KnowledgeBase]
    history: list[chat_services.HistoryMessage]
    tenant_id: uuid.UUID
    # The bot its model calls are metered to (its daily budget); None for a regression run's calls, which
    # count in the tenant's month but must not spend the live bot's day.
    metering_bot_id: uuid.UUID | None
    # Budgets beyond the tenant's month each model call reserves in (the bot's day); the gateway adds the
    # month and the platform key's share itself.
    spends_from: list[Budget] = field(default_factory=list)
    # Who reads the answer. Only the builder's playground is the owner's; the widget's visitors and the
    # REST and OpenAI-compatible APIs' callers (an integrator's own end users) are visitors.
    audience: Audience = "visitor"
    outcome: str = MessageOutcome.ERROR
    began: float = field(default_factory=time.monotonic)
    usage: list[UsageRecord] = field(default_factory=list)
    standalone_question: str = ""
    results: list[SearchResult] = field(default_factory=list)
    citations: list[dict[str, Any]] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    completed: Completed | None = None

    def record(self, outcome: str, error_message: str = "") -> AnswerRecord:
        chat_records = [record for record in self.usage if record.operation == ModelKind.CHAT]
        answer_record = chat_records[-1] if chat_records else None
        return AnswerRecord(
            content="".join(self.answer),
            outcome=outcome,
            standalone_question=self.standalone_question,
            citations=self.citations,
            retrieved_chunk_ids=[result.chunk_id for result in self.results],
            model_ref=answer_record.model_ref if answer_record else self.bot.chat_model,
            model_version=(self.completed.model_version if self.completed else "")
            or (answer_record.model_version if answer_record else ""),
            input_tokens=answer_record.input_tokens if answer_record else 0,
            output_tokens=answer_record.output_tokens if answer_record else 0,
            cost_usd=sum((record.cost_usd for record in self.usage), Decimal(0)),
            latency_ms=round((time.monotonic() - self.began) * 1000),
            time_to_first_token_ms=None
            if self.first_token_at is None
            else round((self.first_token_at - self.began) * 1000),
            error_message=error_message,
        )


async def converse(
    *,
    tenant_id: uuid.UUID | str,
    bot_id: uuid.UUID | str,
    question: str,
    channel: str,
    conversation_id: uuid.UUID | str | None = None,
    visitor_id: str = "",
    client_ip: str = "",
    user: User | None = None,
    history: Sequence[chat_services.HistoryMessage] | None = None,
) -> AsyncIterator[EngineEvent]:
    """One turn, as events: TurnStarted, Sources, Token..., TurnFinished.

    Raises before the first event for requests that are refused (``ValidationFailed``, ``NotFound``,
    ``RateLimited``, ``chat_services.BudgetExhausted``): no provider is called for them. A provider
    failure is stored on the answer and then raised (``ProviderError``); so is a budget that a model call
    of the turn no longer fits in once it started (``BudgetExhausted`` from the gateway's reservation,
    when concurrent turns hold the rest).
    """
    question = question.strip()
    if not question:
        raise ValidationFailed("Type a question.", field_errors={"message": ["Required."]})
    limit = settings.CHAT_MAX_MESSAGE_CHARACTERS
    if len(question) > limit:
        raise ValidationFailed(
            f"Questions are limited to {limit:,} characters.", field_errors={"message": ["Too long."]}
        )
    start = await sync_to_async(chat_services.chat_start)(
        tenant_id=tenant_id,
        bot_id=bot_id,
        question=question,
        channel=channel,
        conversation_id=conversation_id,
        visitor_id=visitor_id,
        client_ip=client_ip,
        user=user,
        history=history,
    )
    turn = _Turn(
        bot=start.bot,
        knowledge_bases=start.knowledge_bases,
        history=start.history,
        tenant_id=uuid.UUID(str(tenant_id)),
        metering_bot_id=start.bot.pk,
        audience=audience_of(channel),
        spends_from=[
            budget
            for budget in [chat_services.bot_daily_budget(tenant=start.bot.tenant, bot=start.bot)]
            if budget is not None
        ],
    )
    yield TurnStarted(conversation_id=start.conversation_id, question_id=start.user_message_id)
    try:
        async with contextlib.aclosing(_answer(turn, question)) as events:
            async for event in events:
                yield event
    except GroundworkError as error:
        # A provider's failure, or a refusal between the model calls of one turn: a budget that the
        # turn's next call no longer fits in (another turn reserved the rest), a platform key's share.
        await _store(turn, start.conversation_id, turn.record(MessageOutcome.ERROR, error.message))
        raise
    except (asyncio.CancelledError, GeneratorExit):
        await _store(turn, start.conversation_id, turn.record(MessageOutcome.CANCELLED))
        raise
    except BaseException:
        error_message = "An internal error stopped this answer."
        await _store(turn, start.conversation_id, turn.record(MessageOutcome.ERROR, error_message))
        raise
    record = turn.record(turn.outcome)
    message_id = await _store(turn, start.conversation_id, record)
    yield TurnFinished(
        message_id=message_id,
        conversation_id=start.conversation_id,
        content=record.content,
        outcome=record.outcome,
        citations=turn.citations if start.bot.show_citations else [],
        model_version=record.model_version,
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cost_usd=record.cost_usd,
        latency_ms=record.latency_ms or 0,
        time_to_first_token_ms=record.time_to_first_token_ms,
    )


async def _answer(turn: _Turn, question: str) -> AsyncGenerator[Sources | Token, None]:
    """Rewrite, retrieve, then hand off or stream the model's answer; ``turn`` gathers what happened."""
    turn.standalone_question = await _standalone_question(turn, question)
    turn.results = await _retrieve(turn, turn.standalone_question or question)
    turn.citations = [_citation(number, result) for number, result in enumerate(turn.results, start=1)]
    yield Sources(
        citations=turn.citations if turn.bot.show_citations else [],
        retrieved=[_retrieved(result) for result in turn.results],
        standalone_question=turn.standalone_question,
    )
    nothing_to_quote = turn.bot.chat_model == NO_LLM_MODEL and turn.audience == "visitor"
    if not turn.results and (turn.bot.answer_policy == AnswerPolicy.STRICT or nothing_to_quote):
        # Nothing relevant: the honest answer is the handoff, and no model needs to be paid for it. A bot
        # without a language model has nothing else to offer a visitor either, whatever its policy.
        reply = turn.bot.handoff_message
        if not reply and nothing_to_quote:
            reply = NO_LLM_VISITOR_NOTHING_FOUND
        turn.first_token_at = time.monotonic()
        turn.answer.append(reply)
        yield Token(reply)
        turn.outcome = MessageOutcome.NO_ANSWER
        return
    # Closed on the way out whatever happens, before the answer is stored: a visitor who left closes
    # the model's stream, whose usage is then metered into ``turn.usage``.
    async with contextlib.aclosing(_stream_answer(turn, question)) as answer:
        async for text in answer:
            yield Token(text)
    turn.outcome = MessageOutcome.ANSWERED


async def _store(turn: _Turn, conversation_id: uuid.UUID, record: AnswerRecord) -> uuid.UUID:
    # Shielded: the answer of a visitor who left is still stored, even if this task is cancelled again.
    message = await asyncio.shield(
        sync_to_async(chat_services.chat_record_answer)(
            tenant_id=turn.tenant_id, conversation_id=conversation_id, record=record
        )
    )
    return message.pk


async def evaluate(
    *, tenant_id: uuid.UUID | str, bot: Bot, knowledge_bases: list[KnowledgeBase], question: str
) -> AnswerRecord:
    """One question answered by ``bot`` as given — possibly a candidate's settings on an unsaved copy —
    with nothing stored: no conversation, and no rate limits or bot budget (a regression run is the
    tenant's own deliberate spend). The gateway meters its model calls to the tenant, not to the bot, so
    a run never spends the live bot's daily budget, and reserves each in the tenant's monthly budget:
    ``BudgetExhausted`` is raised (not recorded as a failed case) once a call no longer fits.

    Answers are worded as visitors read them (``audience_of``): a regression suite checks what visitors get.

    A provider failure is not raised: the record's outcome is ``error`` with the provider's message,
    which a regression report shows as a failed case.
    """
    turn = _Turn(
        bot=bot,
        knowledge_bases=knowledge_bases,
        history=[],
        tenant_id=uuid.UUID(str(tenant_id)),
        metering_bot_id=None,
    )
    try:
        async with contextlib.aclosing(_answer(turn, question)) as events:
            async for _ in events:
                pass
    except ProviderError as error:
        return turn.record(MessageOutcome.ERROR, error.message)
    return turn.record(turn.outcome)


def audience_of(channel: str) -> Audience:
    """Who reads a channel's answers: the owner in the builder's playground, visitors everywhere else."""
    return "owner" if channel == Channel.PLAYGROUND else "visitor"


# --- the steps --------------------------------------------------------------------------------------


async def _standalone_question(turn: _Turn, question: str) -> str:
    """The follow-up rewritten to stand alone; "" when there is no history or rewriting is off."""
    bot = turn.bot
    if not turn.history or not bot.rewrite_follow_ups or bot.chat_model == NO_LLM_MODEL:
        return ""
    history = [ChatMessage(role=_role(message.role), content=message.content) for message in turn.history]
    try:
        text, _ = await gateway.chat_complete(
            tenant_id=turn.tenant_id,
            model_ref=bot.chat_model,
            messages=prompt.rewrite_messages(history, question),
            temperature=0.0,
            max_output_tokens=200,
            bot_id=turn.metering_bot_id,
            fallback_model_ref=bot.fallback_model or None,
            usage=turn.usage,
            spends_from=turn.spends_from,
        )
    except ProviderError as error:
        logger.warning(
            "Rewriting a follow-up for bot %s failed (%s); searching the question as asked", bot.pk, error
        )
        return ""
    return text.strip().strip('"')[:1000]


async def _retrieve(turn: _Turn, query: str) -> list[SearchResult]:
    bot, bases = turn.bot, turn.knowledge_bases
    if not bases:
        return []
    vectors: dict[str, list[float]] = {}
    if bot.retrieval_mode != RetrievalMode.FULL_TEXT:
        for model_ref in dict.fromkeys(base.embedding_model for base in bases):
            embedded = await gateway.embed(
                tenant_id=turn.tenant_id,
                model_ref=model_ref,
                texts=[query[:2000]],
                bot_id=turn.metering_bot_id,
                usage=turn.usage,
            )
            vectors[model_ref] = embedded.vectors[0]
    return await sync_to_async(_search)(turn, query, vectors)


def _search(turn: _Turn, query: str, vectors: dict[str, list[float]]) -> list[SearchResult]:
    bot = turn.bot
    with tenant_context(turn.tenant_id):
        return retrieval.search(
            tenant=bot.tenant,
            knowledge_bases=turn.knowledge_bases,
            query=query,
            top_k=bot.retrieval_top_k,
            mode=bot.retrieval_mode,
            score_threshold=bot.retrieval_score_threshold,
            query_vectors=vectors,
        )


async def _stream_answer(turn: _Turn, question: str) -> AsyncGenerator[str, None]:
    bot = turn.bot
    model = await sync_to_async(_model_limits)(turn)
    history = [ChatMessage(role=_role(message.role), content=message.content) for message in turn.history]
    passages = [
        prompt.PromptPassage(
            number=number, title=result.document_title, source=_source(result), text=result.text
        )
        for number, result in enumerate(turn.results, start=1)
    ]
    built = prompt.build(
        bot=bot,
        organisation=bot.tenant.name,
        question=question,
        passages=passages,
        history=history,
        context_window=model[0],
        max_output_tokens=min(bot.max_output_tokens, model[1] or bot.max_output_tokens),
    )
    offered = [
        Passage(text=passage.text, title=passage.title, source=passage.source, score=result.score)
        for passage, result in zip(passages[: built.passages_used], turn.results, strict=False)
    ]
    stream = gateway.chat_stream(
        tenant_id=turn.tenant_id,
        model_ref=bot.chat_model,
        messages=built.messages,
        temperature=bot.temperature,
        max_output_tokens=bot.max_output_tokens,
        passages=offered,
        bot_id=turn.metering_bot_id,
        fallback_model_ref=bot.fallback_model or None,
        usage=turn.usage,
        spends_from=turn.spends_from,
        audience=turn.audience,
    )
    async with contextlib.aclosing(stream):
        async for event in stream:
            if isinstance(event, TextDelta) and event.text:
                if turn.first_token_at is None:
                    turn.first_token_at = time.monotonic()
                turn.answer.append(event.text)
                yield event.text
            elif isinstance(event, Completed):
                turn.completed = event


def _model_limits(turn: _Turn) -> tuple[int, int | None]:
    """(context window, longest answer) of the bot's chat model, from the catalog."""
    bot = turn.bot
    with tenant_context(turn.tenant_id):
        spec = provider_selectors.model_get(tenant=bot.tenant, ref=bot.chat_model).spec
    return spec.context_window, spec.max_output_tokens


# --- shaping ----------------------------------------------------------------------------------------


def _role(role: str) -> Any:
    return "assistant" if role == "assistant" else "user"


def _source(result: SearchResult) -> str:
    if result.page_number:
        return f"{result.source or result.document_title}, page {result.page_number}"
    return result.anchor or result.source


def _citation(number: int, result: SearchResult) -> dict[str, Any]:
    return {
        "number": number,
        "chunk_id": str(result.chunk_id),
        "document_id": str(result.document_id),
        "title": result.document_title,
        "source": result.source,
        "page_number": result.page_number,
        "anchor": result.anchor,
        "snippet": result.text[:SNIPPET_CHARACTERS],
        "score": round(result.score, 4),
    }


def _retrieved(result: SearchResult) -> dict[str, Any]:
    return {
        **_citation(0, result),
        "text": result.text,
        "heading_path": result.heading_path,
        "vector_rank": result.vector_rank,
        "text_rank": result.text_rank,
    }


async def collect(events: AsyncIterator[EngineEvent]) -> tuple[Sequence[Sources], TurnFinished]:
    """Run a turn to its end (the non-streaming API): its Sources and its TurnFinished."""
    sources: list[Sources] = []
    finished: TurnFinished | None = None
    async for event in events:
        if isinstance(event, Sources):
            sources.append(event)
        elif isinstance(event, TurnFinished):
            finished = event
    if finished is None:
        raise RuntimeError("the turn ended without finishing")
    return sources, finished
