"""Knowledge bases: creating one, changing its settings, deleting it.

A new embedding model does not change a knowledge base in place: it begins a *building* index version
beside the active one, which ``knowledge.tasks.reindex_knowledge_base`` fills in the background and
``indexes.knowledge_base_switch_index`` makes active once complete.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.database import save_or_conflict
from core.errors import NotFound, ValidationFailed
from core.identifiers import one_by_id
from knowledge import selectors, services
from knowledge.models import SUPPORTED_DIMENSIONS, Chunk, KnowledgeBase, RetrievalMode
from knowledge.retrieval import MAX_TOP_K
from providers import selectors as provider_selectors
from providers.models import FoundationModel, ModelKind
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant
from tenants.models import Role, Tenant
from tenants.services import audit

MAX_CHUNK_SIZE_TOKENS = 2_000
MIN_CHUNK_SIZE_TOKENS = 50


@dataclass(frozen=True)
class EmbeddingChoice:
    ref: str
    dimensions: int
    window_tokens: int


def embedding_choice(*, tenant: Tenant, ref: str) -> EmbeddingChoice:
    """``ref`` if it names an embedding model this tenant may index with; ValidationFailed otherwise."""
    try:
        model = provider_selectors.model_get(tenant=tenant, ref=ref)
    except NotFound:
        raise ValidationFailed.on("embedding_model", f"No such model “{ref}”.") from None
    if model.spec.kind != ModelKind.EMBEDDING:
        raise ValidationFailed.on("embedding_model", f"{model.display_name} is not an embedding model.")
    if isinstance(model.spec, FoundationModel) and model.spec.is_retired:
        raise ValidationFailed.on(
            "embedding_model", f"{model.display_name} has been retired by its provider."
        )
    dimensions = model.spec.embedding_dimensions or 0
    if dimensions not in SUPPORTED_DIMENSIONS:
        sizes = ", ".join(f"{size:,}" for size in SUPPORTED_DIMENSIONS)
        raise ValidationFailed.on(
            "embedding_model",
            f"{model.display_name} makes vectors of {dimensions:,} dimensions; Groundwork stores {sizes}.",
        )
    return EmbeddingChoice(ref=ref, dimensions=dimensions, window_tokens=model.spec.context_window)


def _check_settings(values: Mapping[str, Any]) -> None:
    size = values.get("chunk_size_tokens")
    overlap = values.get("chunk_overlap_tokens")
    if size is not None and not MIN_CHUNK_SIZE_TOKENS <= size <= MAX_CHUNK_SIZE_TOKENS:
        raise ValidationFailed.on(
            "chunk_size_tokens",
            f"Chunk size must be between {MIN_CHUNK_SIZE_TOKENS} and {MAX_CHUNK_SIZE_TOKENS:,} tokens.",
        )
    if size is not None and overlap is not None and not 0 <= overlap < size // 2:
        raise ValidationFailed.on(
            "chunk_overlap_tokens", "Overlap must be at least 0 and less than half the chunk size."
        )
    top_k = values.get("retrieval_top_k")
    if top_k is not None and not 1 <= top_k <= MAX_TOP_K:
        raise ValidationFailed.on("retrieval_top_k", f"Top-k must be between 1 and {MAX_TOP_K}.")
    threshold = values.get("retrieval_score_threshold")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValidationFailed.on(
            "retrieval_score_threshold", "The score threshold is a similarity between 0 and 1."
        )
    mode = values.get("retrieval_mode")
    if mode is not None and mode not in RetrievalMode.values:
        raise ValidationFailed.on("retrieval_mode", "Choose vector, full_text or hybrid.")


@runs_in_actor_tenant
def knowledge_base_create(
    *,
    actor: Actor,
    name: str,
    description: str = "",
    embedding_model: str = "",
    chunk_size_tokens: int = 400,
    chunk_overlap_tokens: int = 60,
    retrieval_top_k: int = 5,
    retrieval_score_threshold: float = 0.0,
    retrieval_mode: str = RetrievalMode.HYBRID,
) -> KnowledgeBase:
    actor.require(Role.EDITOR, "create knowledge bases")
    name = name.strip()
    if not name:
        raise ValidationFailed.on("name", "Give the knowledge base a name.")
    values = {
        "chunk_size_tokens": chunk_size_tokens,
        "chunk_overlap_tokens": chunk_overlap_tokens,
        "retrieval_top_k": retrieval_top_k,
        "retrieval_score_threshold": retrieval_score_threshold,
        "retrieval_mode": retrieval_mode,
    }
    _check_settings(values)
    ref = (
        embedding_model.strip()
        or provider_selectors.model_settings(tenant=actor.tenant).default_embedding_model
    )
    choice = embedding_choice(tenant=actor.tenant, ref=ref)
    knowledge_base = KnowledgeBase(
        tenant=actor.tenant,
        name=name[:120],
        description=description.strip(),
        embedding_model=choice.ref,
        embedding_dimensions=choice.dimensions,
        created_by=actor.user,
        **values,
    )
    save_or_conflict(knowledge_base, message=f"There is already a knowledge base named “{name}”.")
    audit(actor, action="knowledge_base.created", target=knowledge_base, changes={"name": name, **values})
    return knowledge_base


UPDATABLE_FIELDS = (
    "name",
    "description",
    "chunk_size_tokens",
    "chunk_overlap_tokens",
    "retrieval_top_k",
    "retrieval_score_threshold",
    "retrieval_mode",
)


@runs_in_actor_tenant
def knowledge_base_update(
    *, actor: Actor, knowledge_base_id: uuid.UUID | str, embedding_model: str | None = None, **changes: Any
) -> KnowledgeBase:
    """Change a knowledge base's settings. New chunk settings apply to documents ingested from now on
    (re-ingest to apply them to the others); a new embedding model re-embeds everything in the
    background into a new index version, and search uses the old one until that is complete."""
    actor.require(Role.EDITOR, "change knowledge bases")
    unknown = set(changes) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown settings: {', '.join(sorted(unknown))}.")
    knowledge_base = _knowledge_base_for_update(actor.tenant, knowledge_base_id)
    if "name" in changes:
        changes["name"] = str(changes["name"]).strip()[:120]
        if not changes["name"]:
            raise ValidationFailed.on("name", "Give the knowledge base a name.")
    merged = {name: changes.get(name, getattr(knowledge_base, name)) for name in UPDATABLE_FIELDS}
    _check_settings(merged)
    diff = {
        name: {"from": getattr(knowledge_base, name), "to": value}
        for name, value in changes.items()
        if getattr(knowledge_base, name) != value
    }
    for name in diff:
        setattr(knowledge_base, name, changes[name])
    start_reindex = False
    if embedding_model is not None and embedding_model.strip():
        target = knowledge_base.building_embedding_model or knowledge_base.embedding_model
        if embedding_model.strip() != target:
            choice = embedding_choice(tenant=actor.tenant, ref=embedding_model.strip())
            diff["embedding_model"] = {"from": target, "to": choice.ref}
            if choice.ref == knowledge_base.embedding_model:
                # Back to the model in use while a switch was under way: abandon the switch.
                _abandon_building_version(knowledge_base)
            else:
                _begin_building_version(knowledge_base, choice)
                start_reindex = True
    if diff:
        save_or_conflict(
            knowledge_base, message=f"There is already a knowledge base named “{knowledge_base.name}”."
        )
        audit(actor, action="knowledge_base.updated", target=knowledge_base, changes=_jsonable(diff))
    if start_reindex:
        services._enqueue_reindex(knowledge_base)
    return selectors.knowledge_base_get(tenant=actor.tenant, knowledge_base_id=knowledge_base.pk)


def _begin_building_version(knowledge_base: KnowledgeBase, choice: EmbeddingChoice) -> None:
    stale = knowledge_base.building_index_version
    if stale is not None:
        Chunk.objects.for_tenant(knowledge_base.tenant_id).filter(
            knowledge_base=knowledge_base, index_version=stale
        ).delete()
    knowledge_base.building_index_version = max(knowledge_base.active_index_version, stale or 0) + 1
    knowledge_base.building_embedding_model = choice.ref
    knowledge_base.building_embedding_dimensions = choice.dimensions


def _abandon_building_version(knowledge_base: KnowledgeBase) -> None:
    if knowledge_base.building_index_version is not None:
        Chunk.objects.for_tenant(knowledge_base.tenant_id).filter(
            knowledge_base=knowledge_base, index_version=knowledge_base.building_index_version
        ).delete()
    knowledge_base.building_index_version = None
    knowledge_base.building_embedding_model = ""
    knowledge_base.building_embedding_dimensions = None


def _knowledge_base_for_update(tenant: Tenant, knowledge_base_id: uuid.UUID | str) -> KnowledgeBase:
    knowledge_bases = KnowledgeBase.objects.for_tenant(tenant).select_for_update()
    return one_by_id(knowledge_bases, knowledge_base_id, missing="No such knowledge base.")


def _jsonable(diff: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(diff, default=str))


@runs_in_actor_tenant
def knowledge_base_delete(*, actor: Actor, knowledge_base_id: uuid.UUID | str) -> None:
    """Delete a knowledge base with its documents, files and chunks. Bots lose it from their sources."""
    actor.require(Role.EDITOR, "delete knowledge bases")
    knowledge_base = _knowledge_base_for_update(actor.tenant, knowledge_base_id)
    audit(
        actor,
        action="knowledge_base.deleted",
        target=knowledge_base,
        changes={"name": knowledge_base.name, "documents": knowledge_base.documents.count()},
    )
    knowledge_base.delete()
