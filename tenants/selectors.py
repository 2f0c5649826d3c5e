"""Every read about tenants that leaves the app. Lookups by id take the tenant and raise NotFound."""

from __future__ import annotations

import uuid

from django.db.models import F, OuterRef, QuerySet, Subquery
from django.utils import timezone

from core.identifiers import one_by_id
from tenants.context import unscoped
from tenants.models import ApiKey, AuditEvent, Invitation, Membership, Tenant, User


def tenant_get(*, tenant_id: uuid.UUID | str) -> Tenant:
    """The tenant whose context is active (tasks and streamed responses, which start from its id)."""
    return one_by_id(Tenant.objects.all(), tenant_id, missing="No such organisation.")


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email")


def membership_get(*, tenant: Tenant, membership_id: uuid.UUID | str) -> Membership:
    return one_by_id(membership_list(tenant=tenant), membership_id, missing="No such member.")


def membership_of_user(*, tenant_id: uuid.UUID | str, user: User) -> Membership | None:
    """The user's membership in one tenant (the tenant must be active in this transaction)."""
    return Membership.objects.for_tenant(tenant_id).select_related("tenant").filter(user=user).first()


def memberships_of_user(*, user: User) -> list[Membership]:
    """All of a user's memberships, most recently used first: the tenant switcher."""
    with unscoped(reason="a signed-in user lists their own memberships across tenants"):
        return list(
            Membership.objects.filter(user=user)
            .select_related("tenant")
            .order_by(F("last_used_at").desc(nulls_last=True), "tenant__name")
        )


def invitation_list(*, tenant: Tenant) -> QuerySet[Invitation]:
    return (
        Invitation.objects.for_tenant(tenant)
        .filter(accepted_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("email")
    )


def invitation_get(*, tenant: Tenant, invitation_id: uuid.UUID | str) -> Invitation:
    return one_by_id(Invitation.objects.for_tenant(tenant), invitation_id, missing="No such invitation.")


def invitation_link(*, invitation: Invitation) -> str:
    """The link of a pending invitation, as its email carries it: secret, for admins' eyes only.
    Empty when the link cannot be made again (an invitation older than derived links, or a changed
    ``SECRET_KEY``): inviting the person again gives a new one."""
    from tenants import services  # services import this module: on use, not at import

    token = services.invitation_token(invitation)
    if not invitation.is_pending or services.hash_secret(token) != invitation.token_hash:
        return ""
    return services.invitation_url(token)


def invitation_preview(*, token_hash: str) -> Invitation | None:
    """The invitation behind a link, with its tenant, for the acceptance page."""
    with unscoped(reason="an invitation link names its tenant only through the token"):
        return Invitation.objects.select_related("tenant").filter(token_hash=token_hash).first()


def with_creator_role(queryset: QuerySet[ApiKey]) -> QuerySet[ApiKey]:
    """Keys with ``creator_role``: their creator's current role in the key's tenant (None when the
    creator is no longer a member), which ``ApiKey.status`` and ``ApiKey.effective_role`` read."""
    creator_membership = Membership.objects.filter(
        tenant_id=OuterRef("tenant_id"), user_id=OuterRef("created_by_id")
    ).values("role")[:1]
    return queryset.annotate(creator_role=Subquery(creator_membership))


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    """Active keys first (newest first), then revoked ones."""
    return with_creator_role(
        ApiKey.objects.for_tenant(tenant)
        .select_related("created_by")
        .order_by(F("revoked_at").asc(nulls_first=True), "-created_at")
    )


def api_key_get(*, tenant: Tenant, api_key_id: uuid.UUID | str) -> ApiKey:
    return one_by_id(api_key_list(tenant=tenant), api_key_id, missing="No such API key.")


def api_key_working_count(*, tenant: Tenant) -> int:
    """Keys that authenticate now: not revoked, and made by someone who is still a member."""
    return (
        ApiKey.objects.for_tenant(tenant)
        .filter(revoked_at__isnull=True, created_by__memberships__tenant=tenant)
        .count()
    )


def api_keys_created_by(*, tenant: Tenant, user: User) -> QuerySet[ApiKey]:
    """The unrevoked keys a person made in one tenant: those a change of their membership affects."""
    return with_creator_role(
        ApiKey.objects.for_tenant(tenant).filter(created_by=user, revoked_at__isnull=True)
    )


def api_key_by_secret_hash(*, secret_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, with its tenant, its creator and the creator's current role:
    how a Bearer token finds its tenant and what it may do there."""
    with unscoped(reason="an API key names its tenant only through its secret"):
        return (
            with_creator_role(ApiKey.objects.select_related("tenant", "created_by"))
            .filter(secret_hash=secret_hash, revoked_at__isnull=True)
            .first()
        )


def audit_event_list(*, tenant: Tenant) -> QuerySet[AuditEvent]:
    """Newest first, with the acting user (``tenants.audit`` names people by their name)."""
    return AuditEvent.objects.for_tenant(tenant).select_related("actor_user").order_by("-created_at")


def audit_actor_choices(*, tenant: Tenant) -> list[tuple[str, str]]:
    """Everyone who appears in the tenant's audit log, as (label, name) pairs for its "Who" filter."""
    labels = (
        AuditEvent.objects.for_tenant(tenant)
        .values_list("actor_label", "actor_user__full_name")
        .order_by("actor_label")
        .distinct()
    )
    names: dict[str, str] = {}
    for label, full_name in labels:
        names.setdefault(label, full_name or ("Groundwork" if label == "system" else label))
    return sorted(names.items(), key=lambda pair: pair[1].lower())


def tenant_member_count(*, tenant: Tenant) -> int:
    return Membership.objects.for_tenant(tenant).count()
