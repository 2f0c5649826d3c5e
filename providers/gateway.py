"""The one way into a foundation model: resolve the model and its key, call it through an adapter, meter it.

The chat engine calls :func:`chat_stream` (or :func:`chat_complete`), ingestion calls :func:`embed`, the
dashboard and the API call :func:`credential_test`. Every attempt on a resolved model writes one
``UsageRecord`` — answered, failed or cancelled — with tokens, cost from the model's prices, latency and
time to first token.

Keys: the tenant's own credential for the provider when it has one; otherwise the platform's key
(``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``) when the tenant's plan is in ``PLATFORM_KEY_PLANS``;
otherwise :class:`ProviderNotConfigured`. A tenant's calls on the platform's keys are capped per tenant
(``PLATFORM_KEY_RATE_PER_TENANT`` calls per window, ``PLATFORM_KEY_MONTHLY_SPEND_PER_TENANT_USD`` a month):
the platform's provider account is shared by every tenant on an included plan.

Budgets: before every chat call the most it can cost (prompt and longest answer, priced from the
catalog) is reserved against the tenant's monthly budget, the bot's daily budget the caller passes, and
the tenant's share of the platform's key (``providers.budgets``); a call that does not fit is refused with
``BudgetExhausted`` before the provider is called, and the reservation is settled when the call's usage is
recorded. Concurrent calls therefore cannot overshoot a budget. Embedding calls (ingestion, a question's
vector) are not reserved: they are metered, and so counted by the next reservation.

Database work runs in a thread (``sync_to_async``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings

from core import rate_limits
from providers import budgets, selectors, services
from providers.adapters.base import (
    Audience,
    CallSettings,
    ChatAdapter,
    ChatEvent,
    ChatMessage,
    ChatRequest,
    Completed,
    EmbeddingAdapter,
    EmbeddingResult,
    Passage,
    TextDelta,
    Usage,
)
from providers.crypto import DecryptionFailed
from providers.errors import ProviderBadRequest, ProviderError, ProviderNotConfigured
from providers.models import CallOutcome, ModelKind, ModelSpec, Provider, ProviderCredential, UsageRecord
from providers.tokens import count_message_tokens, count_tokens
from tenants import selectors as tenant_selectors
from tenants.actors import Actor
from tenants.context import tenant_context
from tenants.models import Role, Tenant

logger = logging.getLogger(__name__)

# "Test connection" is a person waiting on a button: answer within this, and do not retry.
CREDENTIAL_TEST_TIMEOUT_SECONDS = 10.0
KIND_PHRASES: dict[str, str] = {ModelKind.CHAT: "a chat", ModelKind.EMBEDDING: "an embedding"}


@dataclass(frozen=True)
class _Target:
    """A model resolved for one tenant: what to call, where, with which key (or why it cannot be)."""

    ref: str
    provider: str
    provider_model_id: str
    spec: ModelSpec
    api_key: str = field(default="", repr=False)  # decrypted: never logged, never in a message
    base_url: str | None = None
    unusable: ProviderError | None = None
    platform_key: bool = False  # the call goes through the platform's key: the tenant's share applies


class PlatformKeyLimited(ProviderError):
    """The tenant is calling through the platform's shared key faster than its share allows."""

    status = 429
    title = "Too many requests"
    retryable = True
    code = "platform_key_rate"


def _call_settings() -> CallSettings:
    return CallSettings(
        timeout_seconds=settings.MODEL_CALL_TIMEOUT_SECONDS, max_retries=settings.MODEL_CALL_MAX_RETRIES
    )


def _base_url(provider: str, credential: ProviderCredential | None) -> str | None:
    if provider == Provider.OPENAI_COMPATIBLE:
        return credential.base_url if credential is not None else None
    if provider == Provider.OPENAI:
        return settings.OPENAI_BASE_URL or None
    if provider == Provider.ANTHROPIC:
        return settings.ANTHROPIC_BASE_URL or None
    return None


def _platform_key(provider: str) -> str:
    if provider == Provider.OPENAI:
        return str(settings.OPENAI_API_KEY)
    if provider == Provider.ANTHROPIC:
        return str(settings.ANTHROPIC_API_KEY)
    return ""


def _resolve(tenant_id: uuid.UUID, ref: str, kind: str) -> _Target:
    """Runs in a thread: the model, its credential and the tenant's plan come from the database."""
    with tenant_context(tenant_id):
        # The tenant registry has no RLS (it is not tenant-owned); its plan decides the platform's keys.
        tenant = tenant_selectors.tenant_get(tenant_id=tenant_id)
        model = selectors.model_get(tenant=tenant, ref=ref)
        provider = str(model.provider)
        target = _Target(
            ref=ref, provider=provider, provider_model_id=model.provider_model_id, spec=model.spec
        )
        if model.spec.kind != kind:
            wrong = ProviderBadRequest(
                f"{model.display_name} is {KIND_PHRASES[model.spec.kind]} model, "
                f"not {KIND_PHRASES[kind]} model.",
                provider=provider,
                code="wrong_kind",
            )
            return replace(target, unusable=wrong)
        if provider == Provider.LOCAL:
            return target
        label = Provider(provider).label
        credential = model.credential
        if credential is not None:
            try:
                api_key = services.credential_api_key(credential)
            except DecryptionFailed:
                unreadable = ProviderNotConfigured(
                    f"The stored {label} key can no longer be read. Paste it again in Models.",
                    provider=provider,
                    code="not_configured",
                )
                return replace(target, unusable=unreadable)
            return replace(target, api_key=api_key, base_url=_base_url(provider, credential))
        platform_key = _platform_key(provider)
        if platform_key and tenant.plan in settings.PLATFORM_KEY_PLANS:
            on_platform = replace(
                target, api_key=platform_key, base_url=_base_url(provider, None), platform_key=True
            )
            return replace(on_platform, unusable=_platform_rate_refusal(tenant, provider, label))
        if platform_key:
            message = (
                f"Add your own {label} key in Models to use {model.display_name}: "
                f"the {tenant.get_plan_display()} plan does not include Groundwork's {label} access."
            )
        else:
            message = f"No {label} key is set up. Add one in Models to use {model.display_name}."
        return replace(
            target, unusable=ProviderNotConfigured(message, provider=provider, code="not_configured")
        )


def _platform_rate_refusal(tenant: Tenant, provider: str, label: str) -> ProviderError | None:
    """Count one call on the platform's key for ``tenant``; the refusal once it is past its rate."""
    rate = settings.PLATFORM_KEY_RATE_PER_TENANT
    wait = rate_limits.hit("platform-key", f"{provider}:{tenant.pk}", rate_limits.Rate.parse(rate))
    if not wait:
        return None
    return PlatformKeyLimited(
        f"Your organisation is calling {label} through Groundwork's shared access faster than it allows "
        f"({rate}); try again in {wait} seconds, or add your own {label} key in Models.",
        provider=provider,
    )


async def _resolve_async(tenant_id: uuid.UUID, ref: str, kind: str) -> _Target:
    return await sync_to_async(_resolve)(tenant_id, ref, kind)


def _chat_adapter(target: _Target) -> ChatAdapter:
    # Imported on use: the SDKs (and the local models) load only in processes that call them.
    if target.provider == Provider.LOCAL:
        from providers.adapters.local import NoLLMChatAdapter

        return NoLLMChatAdapter()
    if target.provider == Provider.ANTHROPIC:
        from providers.adapters.anthropic import AnthropicChatAdapter

        return AnthropicChatAdapter(
            api_key=target.api_key, base_url=target.base_url, call_settings=_call_settings()
        )
    from providers.adapters.openai import OpenAIChatAdapter

    return OpenAIChatAdapter(
        api_key=target.api_key,
        base_url=target.base_url,
        call_settings=_call_settings(),
        provider=target.provider,
    )


def _embedding_adapter(target: _Target) -> EmbeddingAdapter:
    if target.provider == Provider.LOCAL:
        from providers.adapters.local import LocalEmbeddingAdapter

        return LocalEmbeddingAdapter()
    if target.provider == Provider.ANTHROPIC:  # the catalog lists none; a kind check stops it first
        raise ProviderBadRequest("Anthropic has no embedding models.", provider=target.provider)
    from providers.adapters.openai import OpenAIEmbeddingAdapter

    return OpenAIEmbeddingAdapter(
        api_key=target.api_key,
        base_url=target.base_url,
        call_settings=_call_settings(),
        provider=target.provider,
    )


async def _close(adapter: object) -> None:
    """Release an SDK adapter's connection pool; local adapters hold none."""
    aclose = getattr(adapter, "aclose", None)
    if aclose is not None:
        await aclose()


# --- metering ---------------------------------------------------------------------------------------


@dataclass
class _Meter:
    """Measures one attempt and writes its UsageRecord."""

    tenant_id: uuid.UUID
    target: _Target
    operation: str
    bot_id: uuid.UUID | None
    used_fallback: bool = False
    started: float = field(default_factory=time.monotonic)
    first_text_at: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    model_version: str = ""
    # The caller's list to receive the UsageRecord (the chat engine sums one turn's cost from it).
    sink: list[UsageRecord] | None = None
    # Budgets beyond the tenant's month the call spends from (a bot's day), and what it holds in them.
    spends_from: Sequence[budgets.Budget] = ()
    reservation: budgets.Reservation | None = None

    def text_arrived(self) -> None:
        if self.first_text_at is None:
            self.first_text_at = time.monotonic()

    def log_failure(self, error: ProviderError) -> None:
        logger.warning(
            "Model call failed: tenant=%s model=%s code=%s: %s",
            self.tenant_id,
            self.target.ref,
            error.code,
            error.message,
        )

    async def refuse_unusable(self) -> None:
        """A model that cannot be called (no usable key, the wrong kind) fails before any call: the
        attempt is metered as an error and the reason raised."""
        unusable = self.target.unusable
        if unusable is not None:
            self.log_failure(unusable)
            await self.record(CallOutcome.ERROR, unusable.code)
            raise unusable

    async def reserve(self, request: ChatRequest) -> None:
        """Hold the most this call can cost in every budget it spends from, before the provider is
        called; ``BudgetExhausted`` (nothing called, nothing metered) when it does not fit."""
        amount = _most_it_can_cost(self.target, request)
        reserve = sync_to_async(_reserve)
        self.reservation = await reserve(self.tenant_id, self.target, amount, self.spends_from)

    @asynccontextmanager
    async def measuring(
        self, adapter: object, *, prompt: Sequence[ChatMessage] | None = None
    ) -> AsyncIterator[None]:
        """Meter one plain (not streamed) call on ``adapter``, made in the block, which stores the usage.

        It is answered when the block ends normally, failed on a ProviderError, cancelled on a cancel
        (then with ``prompt``'s tokens: the provider had read it). The adapter is closed and the record
        written however the block ends.
        """
        outcome, error_code = CallOutcome.ERROR, "internal"
        try:
            yield
            outcome, error_code = CallOutcome.OK, ""
        except ProviderError as error:
            error_code = error.code
            self.log_failure(error)
            raise
        except asyncio.CancelledError:
            outcome, error_code = CallOutcome.CANCELLED, ""
            if prompt is not None:
                self.input_tokens = count_message_tokens(prompt)
            raise
        finally:
            await _close(adapter)
            await self.record(outcome, error_code)

    async def record(self, outcome: str, error_code: str = "") -> None:
        latency_ms = round((time.monotonic() - self.started) * 1000)
        first_ms = None if self.first_text_at is None else round((self.first_text_at - self.started) * 1000)
        write = functools.partial(
            services.usage_record,
            tenant_id=self.tenant_id,
            model_ref=self.target.ref,
            provider=self.target.provider,
            operation=self.operation,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost_usd=self.target.spec.cost_usd(self.input_tokens, self.output_tokens),
            latency_ms=latency_ms,
            time_to_first_token_ms=first_ms,
            outcome=outcome,
            error_code=error_code[:40],
            bot_id=self.bot_id,
            model_version=self.model_version[:200],
            used_fallback=self.used_fallback,
        )
        # The actual cost is recorded and the reservation released in one step (``budgets.settle``).
        record = sync_to_async(budgets.settle)(self.reservation, write)
        self.reservation = None
        try:
            # Shielded: a cancelled answer is still metered, even if the caller is cancelled again.
            created = await asyncio.shield(record)
        except Exception:
            # Metering must not turn an answered question into an error; the log carries the loss.
            logger.exception(
                "Could not record usage of %s for tenant %s (%s)", self.target.ref, self.tenant_id, outcome
            )
            return
        if self.sink is not None:
            self.sink.append(created)


# What a provider's tokenizer may count beyond ours (OpenAI's cl100k/o200k) for the same prompt: the
# reservation must be the most a call can cost, so the prompt is counted generously.
PROMPT_TOKEN_MARGIN = Decimal("1.2")


def _most_it_can_cost(target: _Target, request: ChatRequest) -> Decimal:
    prompt_tokens = count_message_tokens(request.messages) + sum(
        count_tokens(passage.text) for passage in request.passages
    )
    longest = request.max_output_tokens or target.spec.max_output_tokens or target.spec.context_window
    return target.spec.cost_usd(int(prompt_tokens * PROMPT_TOKEN_MARGIN), longest)


def _reserve(
    tenant_id: uuid.UUID, target: _Target, amount: Decimal, spends_from: Sequence[budgets.Budget]
) -> budgets.Reservation | None:
    """Runs in a thread: the budgets' recorded spend comes from the database."""
    with tenant_context(tenant_id):
        tenant = tenant_selectors.tenant_get(tenant_id=tenant_id)
        found = [budgets.tenant_month_budget(tenant=tenant), *spends_from]
        if target.platform_key:
            found.append(budgets.platform_key_budget(tenant=tenant, provider=target.provider))
        in_force = [budget for budget in found if budget is not None]
        return budgets.reserve(scope=str(tenant_id), budgets=in_force, amount_usd=amount)


def _tenant_uuid(tenant_id: uuid.UUID | str) -> uuid.UUID:
    return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))


async def _metered_stream(
    target: _Target, request: ChatRequest, meter: _Meter
) -> AsyncGenerator[ChatEvent, None]:
    """One attempt on one model, within its budgets, streamed, always metered."""
    await meter.refuse_unusable()
    await meter.reserve(request)
    adapter = _chat_adapter(target)
    events = adapter.stream(request)
    streamed: list[str] = []
    completed = False
    outcome, error_code = CallOutcome.ERROR, "internal"
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                meter.text_arrived()
                streamed.append(event.text)
            elif isinstance(event, Completed):
                completed = True
                meter.input_tokens, meter.output_tokens = event.usage.input_tokens, event.usage.output_tokens
                meter.model_version = event.model_version
            yield event
        outcome, error_code = CallOutcome.OK, ""
    except ProviderError as error:
        error_code = error.code
        meter.log_failure(error)
        raise
    except (asyncio.CancelledError, GeneratorExit):
        # The visitor left (the generator was closed) or the task was cancelled: meter what was used.
        outcome, error_code = CallOutcome.CANCELLED, ""
        raise
    finally:
        if completed:
            outcome, error_code = CallOutcome.OK, ""
        elif streamed or outcome == CallOutcome.CANCELLED:
            # No usage report came: the provider still read the prompt and wrote what was shown.
            meter.input_tokens = count_message_tokens(request.messages)
            meter.output_tokens = count_tokens("".join(streamed))
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
        await _close(adapter)
        await meter.record(outcome, error_code)


@dataclass
class _Fallback:
    """The models one answer may try, in order: the model, then its fallback (when set and different)."""

    refs: list[str]
    previous: ProviderError | None = None  # the failure that made the answer fall back

    @classmethod
    def of(cls, model_ref: str, fallback_model_ref: str | None) -> _Fallback:
        fallback = [fallback_model_ref] if fallback_model_ref and fallback_model_ref != model_ref else []
        return cls([model_ref, *fallback])

    def failed(self, attempt: int, error: ProviderError, *, text_shown: bool = False) -> None:
        """After a failed attempt: raise ``error`` (chained to the failure before it) when no other model
        may answer, because it was the last or text was already shown; else log the switch."""
        if text_shown or attempt == len(self.refs) - 1:
            if self.previous is not None:
                raise error from self.previous
            raise error
        logger.warning(
            "Falling back from %s to %s: %s", self.refs[attempt], self.refs[attempt + 1], error.code
        )
        self.previous = error


def _chat_request(
    target: _Target,
    messages: Sequence[ChatMessage],
    temperature: float | None,
    max_output_tokens: int | None,
    passages: Sequence[Passage],
    audience: Audience = "owner",
) -> ChatRequest:
    limit = target.spec.max_output_tokens
    if max_output_tokens is not None and limit:
        max_output_tokens = min(max_output_tokens, limit)  # past the model's limit is a provider 400
    return ChatRequest(
        model=target.provider_model_id,
        messages=list(messages),
        temperature=temperature,
        max_output_tokens=max_output_tokens,
        passages=list(passages),
        audience=audience,
    )


async def chat_stream(
    *,
    tenant_id: uuid.UUID | str,
    model_ref: str,
    messages: Sequence[ChatMessage],
    temperature: float | None = None,
    max_output_tokens: int | None = None,
    passages: Sequence[Passage] = (),
    bot_id: uuid.UUID | None = None,
    usage: list[UsageRecord] | None = None,
    fallback_model_ref: str | None = None,
    spends_from: Sequence[budgets.Budget] = (),
    audience: Audience = "owner",
) -> AsyncGenerator[ChatEvent, None]:
    """Stream an answer: TextDelta events, then one Completed. Raises ProviderError subclasses.

    With ``fallback_model_ref``, a primary that fails before any text was streamed is replaced by the
    fallback (both attempts are metered; the second with ``used_fallback``). ``audience`` says who reads
    the answer (see ``ChatRequest.audience``). Once text has been shown
    the failure is raised: a visitor must not read half of one answer followed by another.
    Close the generator (``aclose()``) to stop early: the attempt is then metered as cancelled.

    Each attempt first reserves its most possible cost in the tenant's monthly budget, ``spends_from``
    (a bot's daily budget) and the tenant's share of a platform key; ``BudgetExhausted`` when it does not
    fit (no fallback: the fallback spends from the same budgets).
    """
    tenant = _tenant_uuid(tenant_id)
    fallback = _Fallback.of(model_ref, fallback_model_ref)
    for attempt, ref in enumerate(fallback.refs):
        target = await _resolve_async(tenant, ref, ModelKind.CHAT)
        request = _chat_request(target, messages, temperature, max_output_tokens, passages, audience)
        meter = _Meter(
            tenant,
            target,
            ModelKind.CHAT,
            bot_id,
            used_fallback=attempt > 0,
            sink=usage,
            spends_from=spends_from,
        )
        text_shown = False
        events = _metered_stream(target, request, meter)
        try:
            async for event in events:
                text_shown = text_shown or isinstance(event, TextDelta)
                yield event
            return
        except ProviderError as error:
            fallback.failed(attempt, error, text_shown=text_shown)
        finally:
            # Closing this generator mid-answer must reach the attempt, so it meters the cancel now.
            await events.aclose()


async def chat_complete(
    *,
    tenant_id: uuid.UUID | str,
    model_ref: str,
    messages: Sequence[ChatMessage],
    temperature: float | None = None,
    max_output_tokens: int | None = None,
    passages: Sequence[Passage] = (),
    bot_id: uuid.UUID | None = None,
    usage: list[UsageRecord] | None = None,
    fallback_model_ref: str | None = None,
    spends_from: Sequence[budgets.Budget] = (),
) -> tuple[str, Completed]:
    """A whole answer in one plain (non-streamed) call, for evaluations and scripts. Metered, with the
    same fallback rule as :func:`chat_stream` (nothing was shown, so any provider failure falls back)."""
    tenant = _tenant_uuid(tenant_id)
    fallback = _Fallback.of(model_ref, fallback_model_ref)
    for attempt, ref in enumerate(fallback.refs):
        target = await _resolve_async(tenant, ref, ModelKind.CHAT)
        request = _chat_request(target, messages, temperature, max_output_tokens, passages)
        meter = _Meter(
            tenant,
            target,
            ModelKind.CHAT,
            bot_id,
            used_fallback=attempt > 0,
            sink=usage,
            spends_from=spends_from,
        )
        try:
            return await _metered_complete(target, request, meter)
        except ProviderError as error:
            fallback.failed(attempt, error)
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _metered_complete(target: _Target, request: ChatRequest, meter: _Meter) -> tuple[str, Completed]:
    await meter.refuse_unusable()
    await meter.reserve(request)
    adapter = _chat_adapter(target)
    async with meter.measuring(adapter, prompt=request.messages):
        complete = getattr(adapter, "complete", None)
        if complete is not None:
            text, completed = await complete(request)
        else:  # adapters without a plain call (the local answerer): collect their stream
            parts: list[str] = []
            completed = Completed(usage=Usage(0, 0), finish_reason="stop")
            async for event in adapter.stream(request):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                else:
                    completed = event
            text = "".join(parts)
        meter.input_tokens, meter.output_tokens = completed.usage.input_tokens, completed.usage.output_tokens
        meter.model_version = completed.model_version
        return text, completed


async def embed(
    *,
    tenant_id: uuid.UUID | str,
    model_ref: str,
    texts: Sequence[str],
    bot_id: uuid.UUID | None = None,
    usage: list[UsageRecord] | None = None,
) -> EmbeddingResult:
    """Vectors for ``texts`` in their order, batched to the provider's limits, metered as one call."""
    tenant = _tenant_uuid(tenant_id)
    target = await _resolve_async(tenant, model_ref, ModelKind.EMBEDDING)
    meter = _Meter(tenant, target, ModelKind.EMBEDDING, bot_id, sink=usage)
    await meter.refuse_unusable()
    adapter = _embedding_adapter(target)
    async with meter.measuring(adapter):
        result = await adapter.embed(target.provider_model_id, texts)
        meter.input_tokens, meter.model_version = result.input_tokens, result.model_version
        return result


# --- test connection --------------------------------------------------------------------------------


def credential_test(*, actor: Actor, credential_id: uuid.UUID) -> ProviderCredential:
    """One cheap real call with a credential (listing models), stored as its last test result."""
    actor.require(Role.ADMIN, "test provider credentials")
    with tenant_context(actor.tenant.pk):
        credential = selectors.credential_get(tenant=actor.tenant, credential_id=credential_id)
        try:
            api_key: str | None = services.credential_api_key(credential)
        except DecryptionFailed:
            api_key = None
    if api_key is None:
        ok, message = False, "The stored key can no longer be read. Paste it again."
    else:
        ok, message = _probe(credential, api_key)
    logger.info("Provider credential %s tested: %s", credential.pk, "ok" if ok else message)
    return services.credential_record_test(actor=actor, credential_id=credential.pk, ok=ok, message=message)


def _probe(credential: ProviderCredential, api_key: str) -> tuple[bool, str]:
    timeout = min(CREDENTIAL_TEST_TIMEOUT_SECONDS, settings.MODEL_CALL_TIMEOUT_SECONDS)
    base_url = _base_url(credential.provider, credential)
    if credential.provider == Provider.ANTHROPIC:
        from providers.adapters.anthropic import anthropic_error
        from providers.adapters.anthropic import make_sync_client as anthropic_client

        try:
            with anthropic_client(api_key=api_key, base_url=base_url, timeout_seconds=timeout) as client:
                page = client.models.list(limit=1)
        except Exception as error:
            return False, anthropic_error(error, secret=api_key, timeout_seconds=timeout).message
        newest = f" (newest model: {page.data[0].display_name})" if page.data else ""
        return True, f"Connected to Anthropic{newest}."
    from providers.adapters.openai import make_sync_client, naming_for, openai_error

    try:
        with make_sync_client(
            api_key=api_key, base_url=base_url, timeout_seconds=timeout, provider=credential.provider
        ) as client:
            models = client.models.list().data
    except Exception as error:
        naming = naming_for(credential.provider, base_url)
        return False, openai_error(
            error, naming=naming, provider=credential.provider, secret=api_key, timeout_seconds=timeout
        ).message
    return True, f"Connected: {len(models)} model{'' if len(models) == 1 else 's'} available."
