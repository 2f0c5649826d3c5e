"""Audit events in words: "Ana changed the model of Support bot from GPT-4o mini to Claude Haiku 4.5".

Services write events with a machine-readable ``action`` and ``changes`` (``tenants.services.audit``);
people read them here, on the audit log, in its CSV export and in the home page's activity. No entry
shows an action code, a table name or an id: targets are named by the name they had when the event was
written (``AuditEvent.target_label``), models by their display names, and an action this module does
not know yet is still told in words ("changed a regression run").

:func:`audit_entries` words a page of events with a fixed number of queries (the events with their
actors, the three of ``providers.readiness`` for the models they mention, one for the knowledge bases
of documents).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString

from core.identifiers import parse_uuid
from providers.readiness import readiness_by_ref
from tenants.models import AuditEvent, Role, Tenant

# The kinds of action the audit log filters by: (value, label, action prefixes).
ACTION_KINDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("organisation", "Organisation", ("tenant.",)),
    ("team", "Team and invitations", ("membership.", "invitation.")),
    ("accounts", "Sign-ins and accounts", ("user.",)),
    ("api_keys", "API keys", ("api_key.",)),
    ("bots", "Bots and answers", ("bot.", "message.")),
    ("knowledge", "Knowledge", ("knowledge_base.", "document.")),
    ("models", "Models and budget", ("provider_credential.", "custom_model.", "model_settings.")),
    ("regression", "Regression tests", ("regression_",)),
)
KIND_LABELS = {value: label for value, label, _ in ACTION_KINDS}

# A bot's settings as the builder names them (``bots.bot_settings`` declares the settings themselves).
BOT_SETTING_WORDS = {
    "name": "name",
    "avatar": "avatar",
    "description": "description",
    "instructions": "instructions",
    "greeting": "greeting",
    "suggested_questions": "suggested questions",
    "chat_model": "model",
    "fallback_model": "fallback model",
    "temperature": "temperature",
    "max_output_tokens": "answer length",
    "retrieval_top_k": "number of passages",
    "retrieval_score_threshold": "relevance threshold",
    "retrieval_mode": "search mode",
    "answer_policy": "answer policy",
    "handoff_message": "hand-off message",
    "show_citations": "citations",
    "rewrite_follow_ups": "follow-up rewriting",
    "language": "language",
    "status": "status",
    "allowed_origins": "allowed websites",
    "allow_any_origin": "“any website” setting",
    "widget_title": "widget title",
    "widget_color": "widget colour",
    "widget_position": "widget position",
    "widget_icon": "widget icon",
    "daily_budget_usd": "daily budget",
    "knowledge_bases": "knowledge bases",
}
KNOWLEDGE_BASE_SETTING_WORDS = {
    "name": "name",
    "description": "description",
    "chunk_size_tokens": "passage size",
    "chunk_overlap_tokens": "passage overlap",
    "embedding_model": "embedding model",
    "retrieval_mode": "search mode",
}
# Settings whose values are model references, worded by the model's display name.
MODEL_SETTINGS = {
    "chat_model",
    "fallback_model",
    "embedding_model",
    "default_chat_model",
    "default_embedding_model",
}
MONEY_SETTINGS = {"daily_budget_usd", "monthly_budget_usd"}
PROVIDER_WORDS = {"openai": "OpenAI", "anthropic": "Anthropic", "openai_compatible": "model server"}
# A value longer than this is not repeated in a sentence ("changed the instructions of Support bot").
SHORT_VALUE = 60


@dataclass(frozen=True)
class AuditEntry:
    """One event for people: who, what (as HTML with the names in bold, and as plain text), when."""

    event: AuditEvent
    actor: str
    sentence_html: SafeString
    sentence: str
    kind: str

    @property
    def created_at(self) -> datetime:
        return self.event.created_at

    @property
    def action(self) -> str:
        return self.event.action

    @property
    def text(self) -> str:
        """The whole sentence, actor first: what the CSV export and screen readers get."""
        return f"{self.actor} {self.sentence}"


@dataclass(frozen=True)
class AuditFilters:
    kind: str = ""
    actor: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def active(self) -> bool:
        return bool(self.kind or self.actor or self.since or self.until)


def filtered_events(events: QuerySet[AuditEvent], filters: AuditFilters) -> QuerySet[AuditEvent]:
    """``events`` narrowed to one kind of action, one actor (their label) and a range of days."""
    if filters.kind:
        prefixes = next((prefixes for value, _, prefixes in ACTION_KINDS if value == filters.kind), ())
        condition = Q()
        for prefix in prefixes:
            condition |= Q(action__startswith=prefix)
        events = events.filter(condition)
    if filters.actor:
        events = events.filter(actor_label=filters.actor)
    if filters.since:
        events = events.filter(created_at__date__gte=filters.since)
    if filters.until:
        events = events.filter(created_at__date__lte=filters.until)
    return events


def action_kind(action: str) -> str:
    for _, label, prefixes in ACTION_KINDS:
        if action.startswith(prefixes):
            return label
    return "Other"


def audit_entries(*, tenant: Tenant, events: Iterable[AuditEvent]) -> list[AuditEntry]:
    """``events`` (read with their ``actor_user``) in words, the models they name by display name."""
    events = list(events)
    refs = {ref for event in events for ref in _model_refs(event.changes)}
    model_names = {
        ref: _model_name(ref, readiness.display_name)
        for ref, readiness in (readiness_by_ref(tenant=tenant, refs=refs).items() if refs else [])
    }
    values = _Values(model_names, _knowledge_base_names(tenant, events))
    return [_entry(event, values) for event in events]


def _knowledge_base_names(tenant: Tenant, events: list[AuditEvent]) -> dict[str, str]:
    """The names of the knowledge bases documents were added to or deleted from (one query; a base
    deleted since is left out, and its documents' entries say less)."""
    from knowledge import selectors as knowledge_selectors  # knowledge builds on tenants: on use

    identifiers = {
        parsed
        for event in events
        if event.action.startswith("document.")
        and (parsed := parse_uuid(str(event.changes.get("knowledge_base", "")))) is not None
    }
    if not identifiers:
        return {}
    bases = knowledge_selectors.knowledge_base_list(tenant=tenant).filter(pk__in=identifiers)
    return {str(pk): name for pk, name in bases.values_list("pk", "name")}


def actor_name(event: AuditEvent) -> str:
    """The person's name (their email when they gave none), the API key's name, or Groundwork itself."""
    if event.actor_user is not None:
        return event.actor_user.display_name
    if event.actor_label == "system":
        return "Groundwork"
    return event.actor_label


# --- wording -----------------------------------------------------------------------------------------


class _Words:
    """A sentence built from a template whose ``{placeholders}`` are names: bold in HTML, plain in text."""

    def __init__(self, template: str, **values: Any) -> None:
        self.template = template
        self.values = {name: str(value) for name, value in values.items()}

    def text(self) -> str:
        return self.template.format(**self.values)

    def html(self) -> SafeString:
        if not self.values:
            return escape(self.template)
        bold = {name: format_html("<strong>{}</strong>", value) for name, value in self.values.items()}
        return format_html(self.template, **bold)


def _entry(event: AuditEvent, values: _Values) -> AuditEntry:
    wording = WORDINGS.get(event.action, _unknown)
    try:
        words = wording(event, values)
    except (KeyError, TypeError, AttributeError, ValueError):
        # An event older than today's wording (a change written with other keys) still reads as words.
        words = _unknown(event, values)
    return AuditEntry(
        event=event,
        actor=actor_name(event),
        sentence_html=words.html(),
        sentence=words.text(),
        kind=action_kind(event.action),
    )


@dataclass(frozen=True)
class _Values:
    model_names: dict[str, str]
    knowledge_base_names: dict[str, str]

    def value(self, setting: str, value: Any) -> str:
        """One setting's value in words."""
        if value is None or value == "" or value == []:
            return "none"
        if setting in MODEL_SETTINGS and isinstance(value, str):
            return self.model_names.get(value, _model_name(value, value))
        if setting in MONEY_SETTINGS:
            return _money(value)
        if isinstance(value, bool):
            return "on" if value else "off"
        if isinstance(value, list):
            return ", ".join(self.value(setting, item) for item in value)
        if setting == "role":
            return _role(value)
        return str(value)


def _model_refs(changes: dict[str, Any]) -> set[str]:
    refs: set[str] = set()
    for name, change in changes.items():
        if name not in MODEL_SETTINGS and name != "enabled_models":
            continue
        sides = change.values() if isinstance(change, dict) else [change]
        for side in sides:
            for ref in side if isinstance(side, list) else [side]:
                if isinstance(ref, str) and ref:
                    refs.add(ref)
    return refs


def _model_name(ref: str, display_name: str) -> str:
    if display_name and display_name != ref:
        return display_name
    # A model gone from the catalog: its own name, without the provider's prefix.
    return ref.partition(":")[2] or ref


def _money(value: Any) -> str:
    if value is None or value == "":
        return "none"
    try:
        return f"${Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def _role(value: Any) -> str:
    try:
        return str(Role(value).label).lower()
    except ValueError:
        return str(value)


def _name(event: AuditEvent, fallback: str) -> str:
    return event.target_label or event.changes.get("name") or fallback


def _fields(names: Sequence[str], words: dict[str, str]) -> str:
    """``["greeting", "temperature", "name"]`` → "greeting, temperature and name"."""
    said = [words.get(name, name.replace("_", " ")) for name in names]
    return said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]


def _short(text: str) -> bool:
    return len(text) <= SHORT_VALUE and "\n" not in text


def _setting_changes(
    event: AuditEvent, values: _Values, *, words: dict[str, str], noun: str, fallback: str
) -> _Words:
    """A bot's or a knowledge base's changed settings: one with its values, several by their names."""
    changes = event.changes
    target = _name(event, fallback)
    if "name" in changes and isinstance(changes["name"], dict):
        target = changes["name"].get("to") or target
    clauses: list[_Words] = []
    status = changes.get("status", {}).get("to") if isinstance(changes.get("status"), dict) else None
    if status == "published":
        clauses.append(_Words("published {target}", target=target))
    elif status == "draft":
        clauses.append(_Words("turned {target} back into a draft", target=target))
    if isinstance(changes.get("name"), dict):
        clauses.append(
            _Words(
                f"renamed the {noun} {{old}} to {{new}}",
                old=changes["name"].get("from", ""),
                new=changes["name"].get("to", ""),
            )
        )
    others = sorted(name for name in changes if name not in ("status", "name"))  # stored keys are unordered
    owner = "its" if clauses else "the"
    suffix = "" if clauses else " of {target}"
    if len(others) == 1:
        setting = others[0]
        change = changes[setting]
        said = words.get(setting, setting.replace("_", " "))
        if isinstance(change, dict) and "from" in change and "to" in change:
            before, after = values.value(setting, change["from"]), values.value(setting, change["to"])
            if _short(before) and _short(after):
                clauses.append(
                    _Words(
                        f"changed {owner} {said}{suffix} from {{before}} to {{after}}",
                        target=target,
                        before=before,
                        after=after,
                    )
                )
            else:
                clauses.append(_Words(f"changed {owner} {said}{suffix}", target=target))
        elif isinstance(change, dict) and "to" in change:
            clauses.append(
                _Words(
                    f"set {owner} {said}{suffix} to {{after}}",
                    target=target,
                    after=values.value(setting, change["to"]),
                )
            )
        else:
            clauses.append(_Words(f"changed {owner} {said}{suffix}", target=target))
    elif others:
        clauses.append(_Words(f"changed {owner} {_fields(others, words)}{suffix}", target=target))
    if not clauses:
        return _Words(f"changed the {noun} {{target}}", target=target)
    return _joined(clauses)


def _joined(clauses: list[_Words]) -> _Words:
    """Clauses as one sentence: "published Support bot and changed its greeting"."""
    values: dict[str, Any] = {}
    templates = []
    for index, clause in enumerate(clauses):
        renamed = {name: f"{name}{index}" for name in clause.values}
        template = clause.template
        for name, new_name in renamed.items():
            template = template.replace("{" + name + "}", "{" + new_name + "}")
        templates.append(template)
        values.update({renamed[name]: value for name, value in clause.values.items()})
    return _Words(" and ".join(templates), **values)


def _unknown(event: AuditEvent, values: _Values) -> _Words:
    """An action without its own words yet: what kind of thing changed, and its name when known."""
    thing = event.target_type.replace("_", " ") or "something"
    if event.target_label:
        return _Words(f"changed the {thing} {{target}}", target=event.target_label)
    return _Words(f"changed a {thing}")


def _bot_updated(event: AuditEvent, values: _Values) -> _Words:
    return _setting_changes(event, values, words=BOT_SETTING_WORDS, noun="bot", fallback="a bot")


def _knowledge_base_updated(event: AuditEvent, values: _Values) -> _Words:
    return _setting_changes(
        event, values, words=KNOWLEDGE_BASE_SETTING_WORDS, noun="knowledge base", fallback="a knowledge base"
    )


def _tenant_updated(event: AuditEvent, values: _Values) -> _Words:
    name = event.changes.get("name")
    if isinstance(name, dict):
        return _Words("renamed the organisation from {old} to {new}", old=name["from"], new=name["to"])
    return _Words("changed the organisation's settings")


def _membership_created(event: AuditEvent, values: _Values) -> _Words:
    changes = event.changes
    role = _role(changes.get("role", ""))
    if changes.get("user") == event.actor_label:
        via = " through an invitation" if changes.get("via") == "invitation" else ""
        return _Words(f"joined as {{role}}{via}", role=role)
    return _Words("added {user} as {role}", user=changes["user"], role=role)


def _membership_removed(event: AuditEvent, values: _Values) -> _Words:
    if event.changes.get("user") == event.actor_label:
        return _Words("left the organisation")
    return _Words("removed {user} from the team", user=event.changes["user"])


def _api_key_revoked(event: AuditEvent, values: _Values) -> _Words:
    changes = event.changes
    if changes.get("reason") == "creator_removed":
        return _Words(
            "stopped the API key {name}, because its creator {creator} left",
            name=changes["name"],
            creator=changes.get("creator", "someone"),
        )
    return _Words("revoked the API key {name}", name=changes["name"])


def _api_key_created(event: AuditEvent, values: _Values) -> _Words:
    role = event.changes.get("role")
    if role:
        return _Words(
            "created the API key {name} with the {role} role", name=event.changes["name"], role=_role(role)
        )
    return _Words("created the API key {name}", name=event.changes["name"])


def _email_verified(event: AuditEvent, values: _Values) -> _Words:
    via = {
        "invitation": " by accepting an invitation",
        "password_reset": " by resetting their password",
        "create_tenant": " (an operator made the account)",
    }.get(event.changes.get("via", ""), "")
    return _Words(f"verified their email address{via}")


def _bot_created(event: AuditEvent, values: _Values) -> _Words:
    bases = event.changes.get("knowledge_bases") or []
    if bases:
        return _Words(
            "created the bot {name}, answering from {bases}",
            name=_name(event, "a bot"),
            bases=", ".join(bases),
        )
    return _Words("created the bot {name}", name=_name(event, "a bot"))


def _knowledge_base_deleted(event: AuditEvent, values: _Values) -> _Words:
    count = event.changes.get("documents") or 0
    if count:
        plural = "s" if count != 1 else ""
        return _Words(
            f"deleted the knowledge base {{name}} and its {count} document{plural}",
            name=_name(event, "a knowledge base"),
        )
    return _Words("deleted the knowledge base {name}", name=_name(event, "a knowledge base"))


def _credential(event: AuditEvent, *, added: bool) -> _Words:
    provider = PROVIDER_WORDS.get(event.changes.get("provider", ""), "a model provider")
    name = _name(event, "a connection")
    if provider == "model server":
        return _Words(f"{'added' if added else 'removed'} the model server {{name}}", name=name)
    verb = "connected" if added else "disconnected"
    return _Words(f"{verb} {provider}, with the key named {{name}}", name=name)


def _credential_updated(event: AuditEvent, values: _Values) -> _Words:
    said = {"name": "name", "base_url": "address", "key": "API key"}
    return _Words(
        f"changed the {_fields(list(event.changes), said)} of the connection {{name}}",
        name=_name(event, "a connection"),
    )


def _model_settings_updated(event: AuditEvent, values: _Values) -> _Words:
    changes = event.changes
    clauses: list[_Words] = []
    for setting, words in (("default_chat_model", "chat"), ("default_embedding_model", "embedding")):
        if setting in changes:
            clauses.append(
                _Words(
                    f"made {{model}} the default {words} model",
                    model=values.value(setting, changes[setting]["to"]),
                )
            )
    enabled = changes.get("enabled_models")
    if isinstance(enabled, dict):
        added = [ref for ref in enabled.get("to", []) if ref not in enabled.get("from", [])]
        removed = [ref for ref in enabled.get("from", []) if ref not in enabled.get("to", [])]
        names = {ref: values.value("chat_model", ref) for ref in [*added, *removed]}
        if added and not clauses:  # a new default is enabled with it: saying so twice reads badly
            clauses.append(_Words("enabled {models}", models=", ".join(names[ref] for ref in added)))
        if removed:
            clauses.append(_Words("turned off {models}", models=", ".join(names[ref] for ref in removed)))
    return _joined(clauses) if clauses else _Words("changed which models bots may use")


def _budget_updated(event: AuditEvent, values: _Values) -> _Words:
    after = event.changes.get("monthly_budget_usd", {}).get("to")
    if after:
        return _Words("set the monthly budget to {amount}", amount=_money(after))
    return _Words("removed the monthly budget")


def _document(event: AuditEvent, values: _Values, template: str, preposition: str) -> _Words:
    """A document's entry, with its knowledge base's name while that base exists."""
    title = _name(event, "without a title")
    base = values.knowledge_base_names.get(str(event.changes.get("knowledge_base", "")))
    if base:
        return _Words(f"{template} {preposition} {{base}}", title=title, base=base)
    return _Words(template, title=title)


def _says(template: str, **fields: Callable[[AuditEvent], Any]) -> Callable[[AuditEvent, _Values], _Words]:
    """A wording whose names come from the event by the given functions."""

    def wording(event: AuditEvent, values: _Values) -> _Words:
        return _Words(template, **{name: read(event) for name, read in fields.items()})

    return wording


def _change(key: str) -> Callable[[AuditEvent], Any]:
    return lambda event: event.changes[key]


def _target(fallback: str) -> Callable[[AuditEvent], Any]:
    return lambda event: _name(event, fallback)


WORDINGS: dict[str, Callable[[AuditEvent, _Values], _Words]] = {
    "tenant.created": _says("created the organisation {name}", name=_change("name")),
    "tenant.updated": _tenant_updated,
    "tenant.ownership_transferred": _says("handed ownership of the organisation to {to}", to=_change("to")),
    "membership.created": _membership_created,
    "membership.role_changed": lambda event, values: _Words(
        "changed the role of {user} from {before} to {after}",
        user=event.changes["user"],
        before=_role(event.changes["from"]),
        after=_role(event.changes["to"]),
    ),
    "membership.removed": _membership_removed,
    "invitation.created": lambda event, values: _Words(
        "invited {email} as {role}", email=event.changes["email"], role=_role(event.changes["role"])
    ),
    "invitation.revoked": _says("withdrew the invitation of {email}", email=_change("email")),
    "api_key.created": _api_key_created,
    "api_key.revoked": _api_key_revoked,
    "api_key.role_limited": lambda event, values: _Words(
        "limited the API key {name} to {role}, the new role of its creator {creator}",
        name=event.changes["name"],
        role=_role(event.changes["to"]),
        creator=event.changes["creator"],
    ),
    "api_key.role_restored": lambda event, values: _Words(
        "let the API key {name} act as {role} again, with its creator {creator}",
        name=event.changes["name"],
        role=_role(event.changes["to"]),
        creator=event.changes["creator"],
    ),
    "user.sign_in_locked": lambda event, values: _Words(
        f"could not sign in for {int(event.changes['minutes'])} minutes after "
        f"{int(event.changes['failures'])} wrong passwords"
    ),
    "user.email_verified": _email_verified,
    "bot.created": _bot_created,
    "bot.updated": _bot_updated,
    "bot.deleted": _says("deleted the bot {name}", name=_target("a bot")),
    "bot.publishable_key_rotated": _says("replaced the widget key of {bot}", bot=_target("a bot")),
    "bot.identity_secret_rotated": _says(
        "made a new identity-verification secret for {bot}", bot=_target("a bot")
    ),
    "bot.identity_secret_cleared": _says("turned off identity verification for {bot}", bot=_target("a bot")),
    "message.corrected": _says("corrected a bot's answer into a knowledge base"),
    "knowledge_base.created": _says("created the knowledge base {name}", name=_target("a knowledge base")),
    "knowledge_base.updated": _knowledge_base_updated,
    "knowledge_base.deleted": _knowledge_base_deleted,
    "document.added": lambda event, values: _document(event, values, "added the document {title}", "to"),
    "document.reingested": _says("read the document {title} again", title=_target("without a title")),
    "document.deleted": lambda event, values: _document(
        event, values, "deleted the document {title}", "from"
    ),
    "provider_credential.created": lambda event, values: _credential(event, added=True),
    "provider_credential.updated": _credential_updated,
    "provider_credential.deleted": lambda event, values: _credential(event, added=False),
    "custom_model.created": _says("added the model {model} from a model server", model=_change("model")),
    "custom_model.deleted": _says("removed the model {model}", model=_change("model")),
    "model_settings.updated": _model_settings_updated,
    "model_settings.budget_updated": _budget_updated,
    "regression_suite.created": lambda event, values: _Words(
        "created the regression suite {name} for {bot}",
        name=_name(event, "a suite"),
        bot=event.changes.get("bot", "a bot"),
    ),
    "regression_suite.updated": _says("changed the regression suite {name}", name=_target("a suite")),
    "regression_suite.deleted": _says("deleted the regression suite {name}", name=_target("a suite")),
    "regression_case.created": _says("added a case to the regression suite {suite}", suite=_change("suite")),
    "regression_case.created_from_message": _says(
        "made the question {question} a regression case, from a conversation", question=_target("asked")
    ),
    "regression_case.updated": _says("changed the regression case {question}", question=_target("a case")),
    "regression_case.deleted": _says("deleted the regression case {question}", question=_target("a case")),
    "regression_cases.imported": lambda event, values: _Words(
        f"imported {int(event.changes['count'])} case{'s' if event.changes['count'] != 1 else ''} "
        "into the regression suite {suite}",
        suite=_name(event, "a suite"),
    ),
    "regression_run.started": _says("started a regression run of {suite}", suite=_change("suite")),
    "regression_run.drift_acknowledged": _says("acknowledged the drift a regression run found"),
}
