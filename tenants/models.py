"""Accounts, organisations and everything that decides who may do what inside one.

``TenantOwnedModel`` is the base of every row that belongs to a tenant, in every app: it carries the
``tenant`` foreign key and the ``TenantScopedManager``; its table gets Row-Level Security through
``tenants.rls.EnableTenantRowLevelSecurity`` in the app's migration (a test checks that none is missed).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with an email address; belongs to tenants through memberships."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)  # platform staff, not a tenant role
    date_joined = models.DateTimeField(default=timezone.now)
    # When the person proved they read this address (a verification link, an accepted invitation, a
    # password reset by email, or an account made by create_tenant). Until then they may use the
    # dashboard but not create API keys or publish bots.
    email_verified_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.email.split("@", 1)[0]

    @property
    def is_email_verified(self) -> bool:
        return self.email_verified_at is not None


class Plan(models.TextChoices):
    FREE = "free", "Free"
    TEAM = "team", "Team"
    BUSINESS = "business", "Business"


class Tenant(models.Model):
    """An organisation: the unit of isolation, billing and membership.

    Not itself tenant-owned (it *is* the tenant), so it has no RLS policy; it is read only through
    ``tenants.selectors``, which always start from the acting member's tenant.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class TenantScopedQuerySet(models.QuerySet[Any]):
    def for_tenant(self, tenant: Tenant | uuid.UUID | str) -> TenantScopedQuerySet:
        tenant_id = tenant.pk if isinstance(tenant, Tenant) else tenant
        return self.filter(tenant_id=tenant_id)


TenantScopedManager = models.Manager.from_queryset(TenantScopedQuerySet)


class TenantOwnedModel(models.Model):
    """Base of every tenant-owned row. Read through ``.objects.for_tenant(tenant)``; RLS backs it up."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedManager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    """Tenant roles, weakest first; each role can do everything the roles before it can."""

    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, other: Role) -> bool:
        return self.rank >= other.rank


ROLE_DESCRIPTIONS = {
    Role.VIEWER: "Sees everything, changes nothing.",
    Role.EDITOR: "Builds bots and knowledge bases.",
    Role.ADMIN: "Also manages the team, API keys and settings.",
    Role.OWNER: "Also deletes the organisation or hands it over.",
}


class Membership(TenantOwnedModel):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(role="owner"), name="membership_one_owner_per_tenant"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class Invitation(TenantOwnedModel):
    """An emailed link that turns its holder into a member. Only the token's hash is stored."""

    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=Q(accepted_at__isnull=True),
                name="invitation_one_pending_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"Invitation of {self.email} ({self.role})"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.expires_at > timezone.now()


class ApiKeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    REVOKED = "revoked", "Revoked"
    CREATOR_REMOVED = "creator_removed", "Inactive: creator removed"


class ApiKeyRevokedReason(models.TextChoices):
    BY_ADMIN = "", "Revoked"
    CREATOR_REMOVED = "creator_removed", "Its creator left the organisation"


class ApiKey(TenantOwnedModel):
    """A secret key for the REST API. The secret is shown once; only its SHA-256 and a prefix are kept.

    A key acts for the person who made it (``created_by``; a key made by a key belongs to that key's
    creator): its effective role is the lower of its own and its creator's *current* membership role,
    and it stops working when that membership ends. ``tenants.selectors`` annotate ``creator_role``
    (the creator's current role, None when they are no longer a member) wherever keys are read.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16)  # shown in listings so people can tell keys apart
    secret_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)  # the least that reads
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(
        max_length=20, choices=ApiKeyRevokedReason.choices, default=ApiKeyRevokedReason.BY_ADMIN, blank=True
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.status == ApiKeyStatus.ACTIVE

    @property
    def creator_current_role(self) -> Role | None:
        """The creator's role in the key's tenant now (annotated by the selectors that read keys)."""
        try:
            role: str | None = self.creator_role  # type: ignore[attr-defined]
        except AttributeError:
            raise RuntimeError(
                "Read API keys through tenants.selectors, which annotate creator_role."
            ) from None
        return Role(role) if role else None

    @property
    def status(self) -> ApiKeyStatus:
        if self.revoked_at is not None:
            if self.revoked_reason == ApiKeyRevokedReason.CREATOR_REMOVED:
                return ApiKeyStatus.CREATOR_REMOVED
            return ApiKeyStatus.REVOKED
        if self.creator_current_role is None:
            return ApiKeyStatus.CREATOR_REMOVED
        return ApiKeyStatus.ACTIVE

    @property
    def effective_role(self) -> Role | None:
        """What the key may do now: the lower of its role and its creator's; None when it cannot act."""
        creator_role = self.creator_current_role
        if self.revoked_at is not None or creator_role is None:
            return None
        return lower_role(Role(self.role), creator_role)


def lower_role(first: Role, second: Role) -> Role:
    return first if second.includes(first) else second


class AuditEvent(TenantOwnedModel):
    """Who changed what, when: written by services in the same transaction as the change."""

    actor_user = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_label = models.CharField(max_length=200)  # kept when the user or key is gone
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=64, blank=True)
    # The target's name when the event was written (a bot's, a document's title…): the audit log speaks
    # of "Support bot", not of an id, and keeps the name after the target is renamed or deleted.
    target_label = models.CharField(max_length=200, blank=True, default="")
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="audit_tenant_recent")]

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"
