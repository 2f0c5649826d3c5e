"""Every setting of a bot, declared once.

From ``SETTINGS`` come the service's checks (:func:`check_settings`), the REST API's input and output
fields (:func:`serializer_fields`, ``NAMES``), the builder form's bounds (:func:`form_bounds`)
and what a regression run may override and records (``candidate``, ``snapshot``). Adding a setting
touches the model, this declaration and the builder (its template, and the label and widget of its
form field, which are the page's words; the field's bounds come from here).

The rule for which chat models a bot may use is here too (:func:`check_chat_model`, with its row form
:func:`offers_chat_model` for the pages that list them), so the builder, the API and regression
candidates agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.db.models import TextChoices
from rest_framework import serializers

from bots.models import AnswerPolicy, BotStatus, WidgetIcon, WidgetPosition
from core.errors import NotFound, ValidationFailed
from knowledge.models import RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from providers import selectors as provider_selectors
from providers.models import FoundationModel, ModelKind
from tenants.models import Tenant

MAX_SUGGESTED_QUESTIONS = 6
MAX_TEMPERATURE = 2.0
MAX_ALLOWED_ORIGINS = 50
HEX_COLOUR = re.compile(r"#[0-9a-f]{6}")

# What a value is, which decides its checks and its API field:
TEXT = "text"  # a string of at most ``max_length`` characters
LINES = "lines"  # a list of short strings (``item_max_length`` each, ``max_items`` at most)
MODEL = "model"  # a chat model reference the tenant's bots may use
INTEGER = "integer"
NUMBER = "number"
MONEY = "money"  # US dollars with cents, or None for no limit
FLAG = "flag"
CHOICE = "choice"  # one of ``choices``
ORIGINS = "origins"  # a list of web origins, normalised
COLOUR = "colour"  # #rrggbb


@dataclass(frozen=True)
class BotSetting:
    name: str
    kind: str
    help_text: str = ""
    max_length: int | None = None
    blank: bool = False  # an empty value is allowed (text, model) / None is allowed (money)
    trim: bool = False  # the service strips the text and cuts it at max_length
    minimum: float | None = None
    maximum: float | None = None
    choices: type[TextChoices] | None = None
    item_max_length: int | None = None
    max_items: int | None = None
    refusal: str = ""  # the message for a value out of bounds or not among the choices
    candidate: bool = False  # a regression candidate may override it
    snapshot: bool = False  # a regression run records it and answers with it
    # The API names status as text: its enum would collide with documents' status in the schema.
    api_choices: bool = True


SETTINGS: tuple[BotSetting, ...] = (
    BotSetting("name", TEXT, max_length=120, trim=True),
    BotSetting("avatar", TEXT, "An emoji or up to two letters.", max_length=8, blank=True, trim=True),
    BotSetting("description", TEXT, max_length=5000, blank=True),
    BotSetting(
        "instructions",
        TEXT,
        "What the bot is told before every conversation (tone, scope, what to avoid).",
        max_length=20_000,
        blank=True,
        candidate=True,
        snapshot=True,
    ),
    BotSetting("greeting", TEXT, max_length=500, blank=True),
    BotSetting(
        "suggested_questions",
        LINES,
        item_max_length=200,
        max_items=MAX_SUGGESTED_QUESTIONS,
        blank=True,
        refusal=f"Up to {MAX_SUGGESTED_QUESTIONS} suggested questions.",
    ),
    BotSetting(
        "chat_model",
        MODEL,
        "A chat model enabled for the organisation, e.g. openai:gpt-4o-mini. Default: the organisation's "
        "default chat model.",
        max_length=200,
        candidate=True,
        snapshot=True,
    ),
    BotSetting(
        "fallback_model",
        MODEL,
        "Another enabled chat model, used when the chat model fails before answering.",
        max_length=200,
        blank=True,
        snapshot=True,
    ),
    BotSetting(
        "temperature",
        NUMBER,
        minimum=0.0,
        maximum=MAX_TEMPERATURE,
        refusal=f"Temperature is between 0 and {MAX_TEMPERATURE:g}.",
        snapshot=True,
    ),
    BotSetting(
        "max_output_tokens",
        INTEGER,
        minimum=16,
        maximum=32_000,
        refusal="Answers are between 16 and 32,000 tokens long.",
        snapshot=True,
    ),
    BotSetting(
        "retrieval_top_k",
        INTEGER,
        minimum=1,
        maximum=MAX_TOP_K,
        refusal=f"Top-k is between 1 and {MAX_TOP_K}.",
        candidate=True,
        snapshot=True,
    ),
    BotSetting(
        "retrieval_score_threshold",
        NUMBER,
        minimum=0.0,
        maximum=1.0,
        refusal="The score threshold is a similarity between 0 and 1.",
        candidate=True,
        snapshot=True,
    ),
    BotSetting(
        "retrieval_mode",
        CHOICE,
        choices=RetrievalMode,
        refusal="Choose vector, full_text or hybrid.",
        candidate=True,
        snapshot=True,
    ),
    BotSetting(
        "answer_policy", CHOICE, choices=AnswerPolicy, refusal="Choose strict or open.", snapshot=True
    ),
    BotSetting(
        "handoff_message",
        TEXT,
        "The answer when the knowledge bases hold nothing relevant (strict policy).",
        max_length=500,
        blank=True,
        snapshot=True,
    ),
    BotSetting("show_citations", FLAG, snapshot=True),
    BotSetting(
        "rewrite_follow_ups",
        FLAG,
        "Rewrite follow-up questions to stand alone before searching.",
        snapshot=True,
    ),
    BotSetting(
        "language", TEXT, "Empty: the language of the question.", max_length=40, blank=True, snapshot=True
    ),
    BotSetting(
        "status",
        CHOICE,
        " or ".join(BotStatus.values),
        max_length=20,
        choices=BotStatus,
        refusal="Choose draft or published.",
        api_choices=False,
    ),
    BotSetting(
        "allowed_origins",
        ORIGINS,
        "Web origins the widget may run on, like https://www.example.com. Empty: none "
        "(unless allow_any_origin).",
        item_max_length=300,
        max_items=MAX_ALLOWED_ORIGINS,
        blank=True,
    ),
    BotSetting("allow_any_origin", FLAG, "Let the widget run on any website (not recommended)."),
    BotSetting(
        "widget_title",
        TEXT,
        "The widget's title; empty: the bot's name.",
        max_length=80,
        blank=True,
        trim=True,
    ),
    BotSetting("widget_color", COLOUR, "The widget's colour, #rrggbb.", max_length=7),
    BotSetting("widget_position", CHOICE, choices=WidgetPosition, refusal="Choose left or right."),
    BotSetting(
        "widget_icon", CHOICE, choices=WidgetIcon, refusal=f"Choose one of {', '.join(WidgetIcon.values)}."
    ),
    BotSetting(
        "daily_budget_usd",
        MONEY,
        "The bot stops answering for the rest of the day (UTC) once it has spent this; null: no cap.",
        minimum=0,
        blank=True,
        refusal="A budget cannot be negative.",
    ),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}
NAMES = tuple(SETTINGS_BY_NAME)
CANDIDATE_NAMES = tuple(setting.name for setting in SETTINGS if setting.candidate)
SNAPSHOT_NAMES = tuple(setting.name for setting in SETTINGS if setting.snapshot)


# --- the chat models a bot may use ------------------------------------------------------------------


def offers_chat_model(row: dict[str, Any]) -> bool:
    """Whether a model row of ``providers.selectors.available_models`` is one a bot may newly choose:
    enabled for the organisation and not retired by its provider."""
    return bool(row["is_enabled"]) and not row["is_retired"]


def check_chat_model(tenant: Tenant, ref: str, field_name: str) -> provider_selectors.ResolvedModel:
    """The chat model ``ref``, resolved, if the tenant's bots may use it; else ValidationFailed."""
    try:
        model = provider_selectors.model_get(tenant=tenant, ref=ref)
    except NotFound:
        raise ValidationFailed.on(field_name, f"No such model “{ref}”.") from None
    if model.spec.kind != ModelKind.CHAT:
        raise ValidationFailed.on(field_name, f"{model.display_name} is not a chat model.")
    if ref not in provider_selectors.model_settings(tenant=tenant).enabled_models:
        raise ValidationFailed.on(
            field_name, f"{model.display_name} is not enabled for your organisation (Models page)."
        )
    if isinstance(model.spec, FoundationModel) and model.spec.is_retired:
        raise ValidationFailed.on(field_name, f"{model.display_name} has been retired by its provider.")
    return model


# --- the service's checks ---------------------------------------------------------------------------


def normalise_origin(origin: str) -> str:
    """``https://shop.example.com`` from what a tenant typed; ValidationFailed if it is not an origin."""
    text = origin.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ValidationFailed.on(
            "allowed_origins", f"“{origin[:100]}” is not a web origin like https://www.example.com (no path)."
        )
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # a port past 65535 or not a number: refused like any other non-origin, not a 500
        raise ValidationFailed.on(
            "allowed_origins", f"“{origin[:100]}” is not a web origin like https://www.example.com (no path)."
        ) from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 keeps its brackets
    return f"{parts.scheme}://{host}{port}"


def _out_of_bounds(setting: BotSetting, value: Any) -> bool:
    if setting.kind in (INTEGER, NUMBER):
        return not float(setting.minimum or 0) <= float(value) <= float(setting.maximum or 0)
    if setting.kind == MONEY:
        return value is not None and Decimal(value) < Decimal(setting.minimum or 0)
    if setting.kind == CHOICE and setting.choices is not None:
        return value not in setting.choices.values
    return False


def _checked_value(setting: BotSetting, value: Any) -> Any:
    """One value checked and normalised by its declaration (cross-setting rules are in check_settings)."""
    name = setting.name
    if _out_of_bounds(setting, value):
        raise ValidationFailed.on(name, setting.refusal)
    if setting.kind == TEXT and setting.trim:
        value = str(value).strip()[: setting.max_length]
    elif setting.kind == LINES:
        lines = [str(line).strip()[: setting.item_max_length] for line in value]
        value = [line for line in lines if line]
        if setting.max_items is not None and len(value) > setting.max_items:
            raise ValidationFailed.on(name, setting.refusal)
    elif setting.kind == ORIGINS:
        value = list(dict.fromkeys(normalise_origin(origin) for origin in value))
    elif setting.kind == COLOUR:
        # Reaches a style attribute on other people's websites: exactly #rrggbb, nothing else.
        value = str(value).strip().lower()
        if not HEX_COLOUR.fullmatch(value):
            raise ValidationFailed.on(name, "Give the colour as #rrggbb, for example #4f46e5.")
    return value


def check_settings(tenant: Tenant, values: dict[str, Any]) -> dict[str, Any]:
    """The settings in ``values`` checked and normalised (only those present; other keys pass through)."""
    checked = dict(values)
    for name, value in values.items():
        if name in SETTINGS_BY_NAME:
            checked[name] = _checked_value(SETTINGS_BY_NAME[name], value)
    if "name" in checked and not checked["name"]:
        raise ValidationFailed.on("name", "Give the bot a name.")
    if "chat_model" in checked:
        model = check_chat_model(tenant, checked["chat_model"], "chat_model")
        limit = model.spec.max_output_tokens
        if limit and checked.get("max_output_tokens", 0) > limit:
            raise ValidationFailed.on(
                "max_output_tokens", f"{model.display_name} writes at most {limit:,} tokens."
            )
    if checked.get("fallback_model"):
        check_chat_model(tenant, checked["fallback_model"], "fallback_model")
        if checked["fallback_model"] == checked.get("chat_model"):
            raise ValidationFailed.on(
                "fallback_model", "The fallback must be another model than the main one."
            )
    return checked


# --- the API's fields and the form's bounds -----------------------------------------------------------


def serializer_field(setting: BotSetting, *, help_text: bool = True) -> serializers.Field:
    """The REST input field of a setting: optional (PATCH changes what it sends), bounded as declared.
    ``name`` is required, for creating a bot needs one."""
    options: dict[str, Any] = {"required": setting.name == "name"}
    if help_text and setting.help_text:
        options["help_text"] = setting.help_text
    factories: dict[str, Callable[[], serializers.Field]] = {
        TEXT: lambda: serializers.CharField(
            max_length=setting.max_length, allow_blank=setting.blank, **options
        ),
        INTEGER: lambda: serializers.IntegerField(
            min_value=int(setting.minimum or 0), max_value=int(setting.maximum or 0), **options
        ),
        NUMBER: lambda: serializers.FloatField(
            min_value=setting.minimum, max_value=setting.maximum, **options
        ),
        MONEY: lambda: serializers.DecimalField(
            max_digits=10, decimal_places=2, min_value=setting.minimum, allow_null=setting.blank, **options
        ),
        FLAG: lambda: serializers.BooleanField(**options),
        CHOICE: lambda: (
            serializers.ChoiceField(choices=setting.choices.choices, **options)  # type: ignore[union-attr]
            if setting.api_choices
            else serializers.CharField(max_length=setting.max_length, **options)
        ),
        LINES: lambda: serializers.ListField(
            child=serializers.CharField(max_length=setting.item_max_length, allow_blank=True),
            max_length=setting.max_items,
            **options,
        ),
        ORIGINS: lambda: serializers.ListField(
            child=serializers.CharField(max_length=setting.item_max_length),
            max_length=setting.max_items,
            **options,
        ),
    }
    factories[MODEL] = factories[COLOUR] = factories[TEXT]
    return factories[setting.kind]()


def serializer_fields(names: Iterable[str], *, help_text: bool = True) -> dict[str, serializers.Field]:
    """Input fields for ``names``, in that order (DRF orders declared fields by creation)."""
    return {name: serializer_field(SETTINGS_BY_NAME[name], help_text=help_text) for name in names}


def form_bounds(name: str) -> dict[str, Any]:
    """The keyword arguments that bound a setting's form field as the service does."""
    setting = SETTINGS_BY_NAME[name]
    if setting.kind in (INTEGER, NUMBER):
        convert = int if setting.kind == INTEGER else float
        return {"min_value": convert(setting.minimum or 0), "max_value": convert(setting.maximum or 0)}
    if setting.kind == MONEY:
        return {"min_value": Decimal(setting.minimum or 0), "max_digits": 10, "decimal_places": 2}
    if setting.max_length is not None:
        return {"max_length": setting.max_length}
    return {}
