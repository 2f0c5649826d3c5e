"""Writes of regression cases: by hand, from an answer in a conversation, imported from a case file
(every row checked first, so nothing is half-imported); every change audited."""

from __future__ import annotations

import uuid
from typing import Any

from bots import selectors as bot_selectors
from bots.chat import selectors as chat_selectors
from bots.models import (
    MessageRole,
    RegressionCase,
    RegressionSuite,
)
from bots.regression import selectors
from bots.regression.case_files import CASE_FIELDS, file_refusal, line_number, parse_cases
from bots.regression.services.suites import suite_for_update
from core.errors import ValidationFailed
from knowledge import selectors as knowledge_selectors
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit

MAX_CASES_PER_SUITE = 500


def _check_case(
    tenant: Tenant, suite: RegressionSuite, values: dict[str, Any], where: str = ""
) -> dict[str, Any]:
    """A case's fields checked and normalised; ``where`` prefixes messages (an import's line)."""
    checked = dict(values)
    if "question" in checked:
        checked["question"] = str(checked["question"] or "").strip()
        if not checked["question"]:
            raise ValidationFailed.on("question", f"{where}Write the question.")
        if len(checked["question"]) > 4000:
            raise ValidationFailed.on("question", f"{where}Questions are limited to 4,000 characters.")
    if "expected_facts" in checked:
        facts = [str(fact).strip()[:500] for fact in checked["expected_facts"] or []]
        checked["expected_facts"] = [fact for fact in facts if fact][:20]
    if "required_document_ids" in checked:
        identifiers = []
        for raw in checked["required_document_ids"] or []:
            try:
                identifiers.append(uuid.UUID(str(raw).strip()))
            except ValueError:
                raise ValidationFailed.on(
                    "required_document_ids", f"{where}“{str(raw)[:60]}” is not a document id."
                ) from None
        knowledge_bases = bot_selectors.bot_knowledge_bases(tenant=tenant, bot=suite.bot)
        known = knowledge_selectors.document_ids_among(
            tenant=tenant, document_ids=identifiers, knowledge_bases=knowledge_bases
        )
        missing = [str(identifier) for identifier in identifiers if identifier not in known]
        if missing:
            raise ValidationFailed.on(
                "required_document_ids",
                f"{where}Not a document of {suite.bot.name}'s knowledge bases: {', '.join(missing[:3])}.",
            )
        checked["required_document_ids"] = list(dict.fromkeys(identifiers))
    if "must_refuse" in checked:
        checked["must_refuse"] = bool(checked["must_refuse"])
    if "notes" in checked:
        checked["notes"] = str(checked["notes"] or "").strip()[:4000]
    return checked


def _room_for(suite: RegressionSuite, count: int) -> None:
    if RegressionCase.objects.filter(suite=suite).count() + count > MAX_CASES_PER_SUITE:
        raise ValidationFailed(f"A suite holds up to {MAX_CASES_PER_SUITE} cases.")


@runs_in_actor_tenant
def case_create(*, actor: Actor, suite_id: uuid.UUID | str, question: str, **values: Any) -> RegressionCase:
    actor.require(Role.EDITOR, "write regression cases")
    unknown = set(values) - set(CASE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown case fields: {', '.join(sorted(unknown))}.")
    suite = suite_for_update(actor.tenant, suite_id)
    _room_for(suite, 1)
    checked = _check_case(actor.tenant, suite, {"question": question, **values})
    case = RegressionCase.objects.create(tenant=actor.tenant, suite=suite, **checked)
    audit(actor, action="regression_case.created", target=case, changes={"suite": suite.name})
    return case


@runs_in_actor_tenant
def case_update(*, actor: Actor, case_id: uuid.UUID | str, **changes: Any) -> RegressionCase:
    actor.require(Role.EDITOR, "write regression cases")
    unknown = set(changes) - set(CASE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown case fields: {', '.join(sorted(unknown))}.")
    case = selectors.case_get(tenant=actor.tenant, case_id=case_id)
    checked = _check_case(actor.tenant, case.suite, changes)
    for name, value in checked.items():
        setattr(case, name, value)
    case.save()
    audit(actor, action="regression_case.updated", target=case, changes={"fields": sorted(checked)})
    return case


@runs_in_actor_tenant
def case_delete(*, actor: Actor, case_id: uuid.UUID | str) -> None:
    actor.require(Role.EDITOR, "write regression cases")
    case = selectors.case_get(tenant=actor.tenant, case_id=case_id)
    audit(actor, action="regression_case.deleted", target=case, changes={"question": case.question[:200]})
    case.delete()


@runs_in_actor_tenant
def case_from_message(
    *, actor: Actor, suite_id: uuid.UUID | str, message_id: uuid.UUID | str
) -> RegressionCase:
    """A case from a real conversation, in one click: the visitor's question; for a good answer, the
    documents it cited become required citations; a question the bot declined becomes one it must
    decline. The answer of the day is kept in the notes, to write expected facts from."""
    actor.require(Role.EDITOR, "write regression cases")
    suite = suite_for_update(actor.tenant, suite_id)
    message = chat_selectors.message_get(tenant=actor.tenant, message_id=message_id)
    if message.conversation.bot_id != suite.bot_id:
        raise ValidationFailed.on(
            "message", f"That message is from a conversation with another bot than {suite.bot.name}."
        )
    _room_for(suite, 1)
    values: dict[str, Any] = {"notes": f"From a {message.conversation.get_channel_display()} conversation."}
    if message.role == MessageRole.USER:
        values["question"] = message.content
    else:
        values["question"] = chat_selectors.question_for(tenant=actor.tenant, answer=message)
        values["must_refuse"] = message.outcome == "no_answer"
        if message.rating != -1 and message.outcome == "answered":
            documents = {
                str(citation.get("document_id"))
                for citation in message.citations
                if citation.get("document_id")
            }
            knowledge_bases = bot_selectors.bot_knowledge_bases(tenant=actor.tenant, bot=suite.bot)
            values["required_document_ids"] = sorted(
                str(pk)
                for pk in knowledge_selectors.document_ids_among(
                    tenant=actor.tenant, document_ids=list(documents), knowledge_bases=knowledge_bases
                )
            )
        verdict = {1: "rated helpful", -1: "rated not helpful"}.get(message.rating or 0, "not rated")
        values["notes"] += f" The answer then ({verdict}):\n{message.content[:3000]}"
    checked = _check_case(actor.tenant, suite, values)
    case = RegressionCase.objects.create(tenant=actor.tenant, suite=suite, source_message=message, **checked)
    audit(
        actor,
        action="regression_case.created_from_message",
        target=case,
        changes={"message": str(message.pk)},
    )
    return case


@runs_in_actor_tenant
def cases_import(
    *, actor: Actor, suite_id: uuid.UUID | str, content: bytes, file_format: str
) -> list[RegressionCase]:
    """Every row checked first; bad rows refuse the whole file (naming each line, up to ten), so nothing
    is half-imported."""
    actor.require(Role.EDITOR, "import regression cases")
    suite = suite_for_update(actor.tenant, suite_id)
    rows, problems = parse_cases(content, file_format)
    _room_for(suite, len(rows))
    checked: list[dict[str, Any]] = []
    for row in rows:
        line = row.pop("_line")
        values = {name: row[name] for name in CASE_FIELDS if name in row}
        values.setdefault("question", "")
        try:
            checked.append(_check_case(actor.tenant, suite, values, where=f"Line {line}: "))
        except ValidationFailed as error:
            problems.append((next(iter(error.field_errors or {"file": []})), error.message))
    if problems:
        problems.sort(key=lambda problem: line_number(problem[1]))
        raise file_refusal(problems)
    cases = RegressionCase.objects.bulk_create(
        [RegressionCase(tenant=actor.tenant, suite=suite, **values) for values in checked]
    )
    audit(actor, action="regression_cases.imported", target=suite, changes={"count": len(cases)})
    return cases
