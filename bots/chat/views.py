"""Dashboard pages of chat: the builder's playground (an async view that streams the answer as server-sent
events, authenticated by the session and protected by the CSRF middleware like every other form) and the
Conversations pages with their filters, export, answers in detail, ratings and corrections into knowledge."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from asgiref.sync import sync_to_async
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db import transaction
from django.forms import Form
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from bots import selectors
from bots.chat import engine
from bots.chat import selectors as chat_selectors
from bots.chat import services as chat_services
from bots.chat.api import turn_result
from bots.chat.engine import TurnFinished
from bots.chat.exports import EXPORT_FORMATS, export_response
from bots.chat.forms import ConversationFilterForm, CorrectionForm, PlaygroundForm, RatingForm
from bots.chat.presentation import present_citation, present_conversation, present_message
from bots.chat.streaming import TurnPresenter, event_stream, first_event, turn_events
from bots.models import (
    Bot,
    Channel,
    Message,
)
from bots.presentation import model_names
from bots.regression.presentation import add_to_suite_choices
from core.errors import GroundworkError, NotFound, RateLimited
from core.formatting import duration_label
from core.problems import PROBLEM_CONTENT_TYPE, problem_body
from knowledge import selectors as knowledge_selectors
from knowledge.models import Document
from knowledge.presentation import MODE_SCORES
from providers.presentation import is_built_in_model, spend_label
from tenants.actors import Actor
from tenants.models import Role, User
from tenants.views_base import TenantFormView, TenantView, resolve_membership

CONVERSATIONS_PER_PAGE = 25


def _problem(request: HttpRequest, status: int, detail: str, errors: Any = None) -> JsonResponse:
    return JsonResponse(
        problem_body(status, detail, instance=request.path, errors=errors),
        status=status,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _playground_bot(request: HttpRequest, pk: uuid.UUID) -> tuple[Actor, Bot] | None:
    """The signed-in member's tenant and the bot, in a short transaction of their own (the request has
    none: the engine makes its own); None for a bot that is not there or not theirs."""
    with transaction.atomic():
        membership = resolve_membership(request)
        if membership is None:
            return None
        actor = Actor(tenant=membership.tenant, role=Role(membership.role), user=membership.user)
        try:
            bot = selectors.bot_get(tenant=actor.tenant, bot_id=pk)
        except NotFound:
            return None
        return actor, bot


def _playground_turn(score_label: str, *, built_in: bool) -> TurnPresenter:
    """The turn as the playground shows it: the API's events, plus every retrieved passage with its
    score (the builder's view of why the bot answered as it did) and links for the dashboard."""
    return TurnPresenter(
        face="playground",
        sources=lambda event: {
            "citations": [present_citation(citation) for citation in event.citations],
            "retrieved": [present_citation(passage) for passage in event.retrieved],
            "standalone_question": event.standalone_question,
            "score_label": score_label,
        },
        done=lambda finished: _done(finished, built_in=built_in),
    )


def _done(finished: TurnFinished, *, built_in: bool) -> dict[str, Any]:
    return {
        **turn_result(finished),
        "citations": [present_citation(citation) for citation in finished.citations],
        # The tokens are shown beside it: an answer that cost nothing says "free", not "$0.00".
        "cost_label": spend_label(finished.cost_usd, built_in=built_in),
        "latency_label": duration_label(finished.latency_ms),
        "first_token_label": duration_label(finished.time_to_first_token_ms),
        "conversation_url": reverse("dashboard:conversation", args=[finished.conversation_id]),
    }


async def playground(request: HttpRequest, pk: uuid.UUID) -> HttpResponseBase:
    """Ask the bot a question from the builder: the answer streams as server-sent events (start,
    sources, token…, done, or error). Refusals (no question, rate limits, budgets) are problem+json
    responses before any stream starts, for the page to show as they are."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    user = await request.auser()
    if not isinstance(user, User):
        return redirect_to_login(request.get_full_path())
    target = await sync_to_async(_playground_bot)(request, pk)
    if target is None:
        return _problem(request, 404, "No such bot.")
    actor, bot = target
    form = PlaygroundForm(request.POST)
    if not form.is_valid():
        first = str(next(iter(form.errors.values()))[0])
        return _problem(request, 400, first, errors=form.errors.get_json_data())
    events = engine.converse(
        tenant_id=actor.tenant.pk,
        bot_id=bot.pk,
        question=form.cleaned_data["message"],
        channel=Channel.PLAYGROUND,
        conversation_id=form.cleaned_data["conversation_id"],
        user=user,
    )
    try:
        started = await first_event(events)
    except GroundworkError as error:
        response = _problem(request, error.status, error.message, errors=error.field_errors)
        if isinstance(error, RateLimited):
            response["Retry-After"] = str(error.retry_after)
        return response
    score_label = MODE_SCORES.get(bot.retrieval_mode, "score")
    presenter = _playground_turn(score_label, built_in=is_built_in_model(bot.chat_model))
    return await event_stream(request, turn_events(events, started, presenter))


# The engine keeps its database work in short transactions of its own: nothing is held while a model speaks.
playground_view = transaction.non_atomic_requests(playground)


class RateView(TenantView):
    """Thumbs up or down on an answer (the playground's buttons). Viewers may rate, as in the API."""

    write_role = Role.VIEWER

    def post(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        message = chat_selectors.message_get(tenant=self.tenant, message_id=pk)  # 404 before the body
        form = RatingForm(request.POST)
        wants_json = "application/json" in request.headers.get("Accept", "")
        if not form.is_valid():
            if wants_json:
                return _problem(request, 400, "Rate an answer 1 (helpful) or -1 (not helpful).")
            messages.error(request, "Rate an answer helpful or not helpful.")
        else:
            try:
                rated = chat_services.message_rate(
                    actor=self.actor,
                    message_id=message.pk,
                    rating=form.cleaned_data["rating"],
                    comment=form.cleaned_data["comment"],
                )
            except GroundworkError as error:
                if wants_json:
                    return _problem(request, error.status, error.message)
                messages.error(request, error.message)
            else:
                if wants_json:
                    return JsonResponse({"message_id": str(rated.pk), "rating": rated.rating})
                messages.success(request, "Rating saved.")
        return redirect(reverse("dashboard:conversation", args=[message.conversation_id]) + f"#message-{pk}")


class ConversationsView(TenantView):
    def bot_choices(self) -> list[tuple[str, str]]:
        return [(str(bot.pk), bot.name) for bot in selectors.bot_list(tenant=self.tenant)]

    def filter_form(self, bots: list[tuple[str, str]] | None = None) -> ConversationFilterForm:
        """The filters from the query string; unbound (no filters) when none is set."""
        data = self.request.GET if any(self.request.GET.get(name) for name in FILTER_NAMES) else None
        return ConversationFilterForm(data, bots=self.bot_choices() if bots is None else bots)


FILTER_NAMES = ("bot", "since", "until", "rating", "channel", "unanswered")


class ConversationListView(ConversationsView):
    template_name = "bots/chat/conversations.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        bots = self.bot_choices()
        form = self.filter_form(bots)
        valid = not form.is_bound or form.is_valid()
        filters = form.filters() if form.is_bound and valid else {}
        conversations = chat_selectors.conversation_list(tenant=self.tenant, **filters)
        if not valid:
            conversations = conversations.none()
        page = Paginator(conversations, CONVERSATIONS_PER_PAGE).get_page(request.GET.get("page"))
        query = {name: request.GET[name] for name in FILTER_NAMES if request.GET.get(name)}
        export_url = reverse("dashboard:conversations_export")
        return render(
            request,
            self.template_name,
            {
                "form": form,
                "filtered": bool(filters),
                "page": page,
                "conversations": [present_conversation(conversation) for conversation in page],
                "query": urlencode(query),
                "export_links": [
                    (name.upper(), f"{export_url}?{urlencode({**query, 'format': name})}")
                    for name in EXPORT_FORMATS
                ],
                "has_bots": bool(bots),
                "has_any": valid and page.paginator.count > 0,
            },
            status=200 if valid else 400,
        )


class ConversationExportView(ConversationsView):
    """Every message of the conversations the filters select, streamed as CSV or JSON Lines."""

    def get(self, request: HttpRequest) -> HttpResponseBase:
        export_format = request.GET.get("format", "csv")
        form = self.filter_form()
        if export_format not in EXPORT_FORMATS or (form.is_bound and not form.is_valid()):
            messages.error(request, "Check the filters: the export was not made.")
            return redirect("dashboard:conversations")
        filters = form.filters() if form.is_bound else {}
        return export_response(
            request, tenant_id=self.tenant.pk, filters=filters, export_format=export_format
        )


class ConversationView(ConversationsView):
    template_name = "bots/chat/conversation.html"

    def get(self, request: HttpRequest, pk: uuid.UUID) -> HttpResponse:
        conversation = chat_selectors.conversation_get(tenant=self.tenant, conversation_id=pk)
        names = model_names(self.tenant)
        thread = [
            present_message(message, names)
            for message in chat_selectors.conversation_messages(tenant=self.tenant, conversation=conversation)
        ]
        corrected = None
        if request.GET.get("corrected"):
            try:
                corrected = knowledge_selectors.document_get(
                    tenant=self.tenant, document_id=request.GET["corrected"]
                )
            except (NotFound, ValueError):
                corrected = None
        answers = [item["message"] for item in thread if item["is_answer"]]
        return render(
            request,
            self.template_name,
            {
                "item": present_conversation(
                    conversation, tokens=sum(answer.input_tokens + answer.output_tokens for answer in answers)
                ),
                "conversation": conversation,
                "suite_choices": add_to_suite_choices(tenant=self.tenant, bot=conversation.bot),
                "bot": conversation.bot,
                "thread": thread,
                "corrected": corrected,
                "answers": len(answers),
                "rated_up": sum(1 for message in answers if message.rating == 1),
                "rated_down": sum(1 for message in answers if message.rating == -1),
                "input_tokens": sum(message.input_tokens for message in answers),
                "output_tokens": sum(message.output_tokens for message in answers),
                "can_write": self.actor.can(Role.EDITOR),
            },
        )


class CorrectionView(ConversationsView, TenantFormView):
    """Correct an answer: a question-and-answer entry added to a knowledge base, so that the bots
    answering from it answer better next time."""

    read_role = Role.EDITOR
    template_name = "bots/chat/correct.html"

    def answer(self, pk: uuid.UUID) -> Message:
        message = chat_selectors.message_get(tenant=self.tenant, message_id=pk)
        if message.role != "assistant":
            raise Http404("Only the bot's answers can be corrected.")
        return message

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        assert isinstance(form, CorrectionForm)
        message = self.answer(self.kwargs["pk"])
        conversation = chat_selectors.conversation_get(
            tenant=self.tenant, conversation_id=message.conversation_id
        )
        return render(
            self.request,
            self.template_name,
            {
                "form": form,
                "message": message,
                "conversation": conversation,
                "item": present_message(message, model_names(self.tenant)),
                "has_knowledge_bases": bool(form.knowledge_base_count),
            },
            status=status,
        )

    def make_form(self, data: Any = None) -> CorrectionForm:
        knowledge_bases = list(knowledge_selectors.knowledge_base_list(tenant=self.tenant))
        if data is not None:
            return CorrectionForm(data, knowledge_bases=knowledge_bases)
        message = self.answer(self.kwargs["pk"])
        conversation = chat_selectors.conversation_get(
            tenant=self.tenant, conversation_id=message.conversation_id
        )
        attached = selectors.bot_knowledge_bases(tenant=self.tenant, bot=conversation.bot)
        initial = {
            "question": chat_selectors.question_for(tenant=self.tenant, answer=message),
            "knowledge_base": str(attached[0].pk) if attached else None,
        }
        return CorrectionForm(knowledge_bases=knowledge_bases, initial=initial)

    def perform(self, form: Form) -> tuple[Message, Document]:
        message = self.answer(self.kwargs["pk"])
        document = chat_services.message_correct_into_knowledge(
            actor=self.actor,
            message_id=message.pk,
            knowledge_base_id=form.cleaned_data["knowledge_base"],
            question=form.cleaned_data["question"],
            answer=form.cleaned_data["answer"],
        )
        return message, document

    def success_url(self, result: tuple[Message, Document]) -> str:
        message, document = result
        url = reverse("dashboard:conversation", args=[message.conversation_id])
        return f"{url}?{urlencode({'corrected': document.pk})}#message-{message.pk}"
