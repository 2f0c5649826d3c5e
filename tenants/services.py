"""Every write about accounts, tenants, memberships, invitations and API keys.

Each service is atomic, checks the acting role itself and writes its audit event in the same
transaction as the change, so the API, the dashboard and commands all obey the same rules.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.text import slugify

from core import public_urls
from core.clock import TimestampSigner
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from tenants import selectors
from tenants.actors import Actor
from tenants.context import runs_in_actor_tenant, tenant_context, unscoped
from tenants.models import (
    ApiKey,
    ApiKeyRevokedReason,
    AuditEvent,
    Invitation,
    Membership,
    Role,
    Tenant,
    User,
    lower_role,
)

logger = logging.getLogger(__name__)

API_KEY_PREFIX = "gw_sk_"
# last_used_at is a hint for people, not an access log: refresh it at most this often per key, so an
# API client does not turn every read into a write.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


def hash_secret(secret: str) -> str:
    """SHA-256 of a high-entropy secret (API keys, invitation tokens); no salt or slow hash is needed."""
    return hashlib.sha256(secret.encode()).hexdigest()


# The attributes that name an audited target for people, tried in this order.
TARGET_NAME_ATTRIBUTES = ("name", "display_name", "title", "email", "question")


def audit(actor: Actor, *, action: str, target: Any, changes: dict[str, Any] | None = None) -> AuditEvent:
    return AuditEvent.objects.create(
        tenant=actor.tenant,
        actor_user=actor.user,
        actor_api_key=actor.api_key,
        actor_label=actor.label,
        action=action,
        target_type=type(target).__name__.lower(),
        target_id=str(getattr(target, "pk", "") or ""),
        target_label=_target_label(target),
        changes=changes or {},
    )


def _target_label(target: Any) -> str:
    """What people call the target, kept with the event (``tenants.audit`` words entries with it)."""
    for attribute in TARGET_NAME_ATTRIBUTES:
        value = getattr(target, attribute, None)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


# --- accounts and tenants ---------------------------------------------------------------------------


def user_sign_in_locked_out(*, email: str) -> None:
    """Sign-in to ``email``'s account was locked after repeated failures (django-axes): each of the
    person's organisations hears of it once per lockout, so admins notice someone guessing."""
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        return  # an address with no account: nothing to tell anyone
    since = timezone.now() - settings.AXES_COOLOFF_TIME
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    for membership in selectors.memberships_of_user(user=user):
        with tenant_context(membership.tenant_id):
            already = AuditEvent.objects.for_tenant(membership.tenant_id).filter(
                action="user.sign_in_locked", target_id=str(user.pk), created_at__gte=since
            )
            if not already.exists():
                audit(
                    Actor(tenant=membership.tenant, role=Role(membership.role), user=user),
                    action="user.sign_in_locked",
                    target=user,
                    changes={
                        "user": user.email,
                        "failures": settings.AXES_FAILURE_LIMIT,
                        "minutes": minutes,
                    },
                )


def _unique_slug(name: str) -> str:
    base = slugify(name)[:48] or "org"
    slug = base
    while Tenant.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def tenant_create(*, name: str, owner: User) -> Tenant:
    """A new organisation with ``owner`` as its owner."""
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "Give the organisation a name.", field_errors={"name": ["This field is required."]}
        )
    tenant = Tenant.objects.create(name=name, slug=_unique_slug(name))
    owner_actor = Actor(tenant=tenant, role=Role.OWNER, user=owner)
    with tenant_context(tenant.pk):
        membership = Membership.objects.create(
            tenant=tenant, user=owner, role=Role.OWNER, last_used_at=timezone.now()
        )
        audit(owner_actor, action="tenant.created", target=tenant, changes={"name": name})
        audit(
            owner_actor,
            action="membership.created",
            target=membership,
            changes={"user": owner.email, "role": Role.OWNER},
        )
    return tenant


def _send_on_commit(*, to: str, subject: str, body: str) -> None:
    transaction.on_commit(
        lambda: send_mail(subject=subject, message=body, from_email=None, recipient_list=[to])
    )


def _absolute(path: str) -> str:
    # The address the person is using right now (or PUBLIC_URL): the link must open where they signed up.
    return public_urls.absolute_url(path)


@transaction.atomic
def user_sign_up(*, email: str, password: str, full_name: str, organisation_name: str | None) -> None:
    """A person signs up: their account and, unless they came to join one, their first organisation;
    and a link to verify the address.

    Returns nothing on purpose, so no caller can answer differently for an address that already has an
    account (which would tell anyone which addresses are customers). For such an address nothing is
    created: its owner is emailed that they already have an account (sign in, or reset the password).
    The password is hashed either way, so the two paths also take about as long.
    """
    email = email.strip().lower()
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None:
        make_password(password)  # the same work as creating an account: timing tells nothing either
        _send_on_commit(
            to=existing.email,
            subject="You already have a Groundwork account",
            body=(
                "Someone (probably you) tried to sign up for Groundwork with this email address, "
                "which already has an account, so nothing new was created.\n\n"
                f"Sign in: {_absolute(reverse('login'))}\n"
                f"Forgot your password? Choose a new one: {_absolute(reverse('password_reset'))}\n\n"
                "If this was not you, you can ignore this email."
            ),
        )
        return
    user = User.objects.create_user(email=email, password=password, full_name=full_name.strip())
    if organisation_name:
        tenant_create(name=organisation_name, owner=user)
    user_send_verification_email(user=user)


@transaction.atomic
def user_sign_up_invited(*, token: str, email: str, password: str, full_name: str) -> User | None:
    """Sign up to accept an invitation: the emailed invitation link proves the address, so the account
    is verified at once and no organisation is made (the invitation brings one).

    None when the token is not a pending invitation for ``email``: the caller then signs the person up
    as anyone else. An address that already has an account is a Conflict here, which reveals nothing:
    only the holder of that address's invitation link can ask.
    """
    email = email.strip().lower()
    invitation = selectors.invitation_preview(token_hash=hash_secret(token))
    if invitation is None or not invitation.is_pending or invitation.email.lower() != email:
        return None
    if User.objects.filter(email__iexact=email).exists():
        raise Conflict(
            "An account with this email already exists. Sign in to accept the invitation.",
            field_errors={"email": ["An account with this email already exists. Sign in instead."]},
        )
    return User.objects.create_user(
        email=email, password=password, full_name=full_name.strip(), email_verified_at=timezone.now()
    )


# Email verification links are signed (user and address), not stored; changing the address or the
# secret key invalidates them, and they expire after EMAIL_VERIFICATION_MAX_AGE_HOURS.
EMAIL_VERIFICATION_SALT = "tenants.email-verification"


def _verification_signer() -> TimestampSigner:
    return TimestampSigner(salt=EMAIL_VERIFICATION_SALT)


def email_verification_token(*, user: User) -> str:
    return _verification_signer().sign_object({"user": user.pk, "email": user.email})


def user_send_verification_email(*, user: User) -> None:
    """Email ``user`` a signed, expiring link that proves they read their address."""
    if user.is_email_verified:
        return
    link = _absolute(reverse("verify_email", args=[email_verification_token(user=user)]))
    hours = settings.EMAIL_VERIFICATION_MAX_AGE_HOURS
    _send_on_commit(
        to=user.email,
        subject="Verify your email address for Groundwork",
        body=(
            f"Welcome to Groundwork{', ' + user.full_name if user.full_name else ''}!\n\n"
            f"Verify your email address: {link}\n\n"
            f"The link works for {hours} hours. Until you verify, you can use the dashboard but not "
            "create API keys or publish bots.\n\n"
            "If you did not sign up, ignore this email: nothing happens without the link."
        ),
    )


def user_verify_email(*, token: str) -> User:
    """Verify the address a verification link was sent to. NotFound for a bad, expired or stale link."""
    invalid = NotFound("This verification link is invalid or has expired. Sign in and send a new one.")
    max_age = timedelta(hours=settings.EMAIL_VERIFICATION_MAX_AGE_HOURS)
    try:
        payload = _verification_signer().unsign_object(token, max_age=max_age)
    except signing.BadSignature:
        raise invalid from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        raise invalid
    user = User.objects.filter(pk=payload["user"], email=payload.get("email")).first()
    if user is None:
        raise invalid
    return user_mark_email_verified(user=user, via="link")


@transaction.atomic
def user_mark_email_verified(*, user: User, via: str) -> User:
    """Record that ``user`` proved their address (``via``: link, invitation, password_reset, command),
    audited in each of their organisations so admins see it. Idempotent."""
    if user.is_email_verified:
        return user
    user.email_verified_at = timezone.now()
    user.save(update_fields=["email_verified_at"])
    for membership in selectors.memberships_of_user(user=user):
        with tenant_context(membership.tenant_id):
            audit(
                Actor(tenant=membership.tenant, role=Role(membership.role), user=user),
                action="user.email_verified",
                target=user,
                changes={"user": user.email, "via": via},
            )
    return user


@runs_in_actor_tenant
def tenant_update(*, actor: Actor, name: str | None = None) -> Tenant:
    actor.require(Role.ADMIN, "change the organisation's settings")
    tenant = Tenant.objects.select_for_update().get(pk=actor.tenant.pk)
    changes: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise ValidationFailed(
                "The name cannot be empty.", field_errors={"name": ["This field is required."]}
            )
        if name != tenant.name:
            changes["name"] = {"from": tenant.name, "to": name}
            tenant.name = name
    if changes:
        tenant.save(update_fields=["name", "updated_at"])
        audit(actor, action="tenant.updated", target=tenant, changes=changes)
    return tenant


@runs_in_actor_tenant
def tenant_delete(*, actor: Actor, confirm_name: str) -> None:
    """Delete the organisation and everything it owns. Owners only, and they type its name to confirm."""
    actor.require(Role.OWNER, "delete the organisation")
    if confirm_name.strip() != actor.tenant.name:
        raise ValidationFailed(
            "Type the organisation's name exactly to confirm.",
            field_errors={"confirm_name": ["This does not match the organisation's name."]},
        )
    logger.info("tenant %s (%s) deleted by %s", actor.tenant.pk, actor.tenant.name, actor.label)
    Tenant.objects.filter(pk=actor.tenant.pk).delete()


@runs_in_actor_tenant
def tenant_transfer_ownership(*, actor: Actor, membership_id: uuid.UUID) -> Membership:
    """Make another member the owner; the current owner becomes an admin."""
    actor.require(Role.OWNER, "transfer ownership")
    new_owner = selectors.membership_get(tenant=actor.tenant, membership_id=membership_id)
    if actor.user is not None and new_owner.user_id == actor.user.pk:
        raise ValidationFailed("You already own this organisation.")
    current = Membership.objects.for_tenant(actor.tenant).select_for_update().get(role=Role.OWNER)
    current.role = Role.ADMIN
    current.save(update_fields=["role"])  # first: at most one owner at any moment
    new_owner.role = Role.OWNER
    new_owner.save(update_fields=["role"])
    audit(
        actor,
        action="tenant.ownership_transferred",
        target=new_owner,
        changes={"from": current.user.email, "to": new_owner.user.email},
    )
    return new_owner


# --- memberships and invitations --------------------------------------------------------------------


@runs_in_actor_tenant
def membership_change_role(*, actor: Actor, membership_id: uuid.UUID, role: str) -> Membership:
    actor.require(Role.ADMIN, "change members' roles")
    membership = selectors.membership_get(tenant=actor.tenant, membership_id=membership_id)
    new_role = _parse_role(role)
    if new_role == Role.OWNER or membership.role == Role.OWNER:
        raise PermissionDenied("Ownership changes hands only through “Transfer ownership”.")
    if membership.role != new_role:
        audit(
            actor,
            action="membership.role_changed",
            target=membership,
            changes={"user": membership.user.email, "from": membership.role, "to": new_role},
        )
        _audit_key_roles_following(actor, membership=membership, old=Role(membership.role), new=new_role)
        membership.role = new_role
        membership.save(update_fields=["role"])
    return membership


def _audit_key_roles_following(actor: Actor, *, membership: Membership, old: Role, new: Role) -> None:
    """A key acts at most with its creator's role, checked live at authentication; what a role change
    does to each of the member's keys is written down here, one event per key whose power changes."""
    for api_key in selectors.api_keys_created_by(tenant=actor.tenant, user=membership.user):
        before, after = lower_role(Role(api_key.role), old), lower_role(Role(api_key.role), new)
        if before != after:
            audit(
                actor,
                action="api_key.role_limited" if after.rank < before.rank else "api_key.role_restored",
                target=api_key,
                changes={
                    "name": api_key.name,
                    "creator": membership.user.email,
                    "role": api_key.role,
                    "from": before,
                    "to": after,
                },
            )


@runs_in_actor_tenant
def membership_remove(*, actor: Actor, membership_id: uuid.UUID) -> None:
    membership = selectors.membership_get(tenant=actor.tenant, membership_id=membership_id)
    leaving_self = actor.user is not None and membership.user_id == actor.user.pk
    if not leaving_self:
        actor.require(Role.ADMIN, "remove members")
    if membership.role == Role.OWNER:
        raise PermissionDenied("The owner cannot be removed; transfer ownership first.")
    audit(
        actor,
        action="membership.removed",
        target=membership,
        changes={"user": membership.user.email, "role": membership.role},
    )
    # A key dies with its creator's membership: revoked now (so rejoining later does not revive it),
    # one audited event per key. Authentication also checks the creator's membership live.
    now = timezone.now()
    for api_key in selectors.api_keys_created_by(tenant=actor.tenant, user=membership.user):
        api_key.revoked_at = now
        api_key.revoked_reason = ApiKeyRevokedReason.CREATOR_REMOVED
        api_key.save(update_fields=["revoked_at", "revoked_reason"])
        audit(
            actor,
            action="api_key.revoked",
            target=api_key,
            changes={
                "name": api_key.name,
                "reason": ApiKeyRevokedReason.CREATOR_REMOVED,
                "creator": membership.user.email,
            },
        )
    membership.delete()


def _parse_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed(
            f"Unknown role “{role}”.", field_errors={"role": [f"Choose one of {allowed}."]}
        ) from None


# Invitation links are derived from the invitation's id with the server's SECRET_KEY (an HMAC), so an
# admin can copy the very link the email carries for a team without outgoing mail; the database still
# keeps only the token's hash, and a copy of the database alone cannot make a link.
INVITATION_LINK_SALT = "groundwork.tenants.invitation-link"


def invitation_token(invitation: Invitation) -> str:
    """The secret in ``invitation``'s link: 256 bits, the same every time it is asked for."""
    return salted_hmac(INVITATION_LINK_SALT, str(invitation.pk), algorithm="sha256").hexdigest()


def invitation_url(token: str) -> str:
    """The absolute link that accepts an invitation: the one emailed, and the one admins copy."""
    return _absolute(reverse("invitation_accept", args=[token]))


@runs_in_actor_tenant
def invitation_create(*, actor: Actor, email: str, role: str) -> Invitation:
    """Invite someone by email. Admins can copy the same link from the team page
    (:func:`tenants.selectors.invitation_link`), for teams whose server sends no email."""
    actor.require(Role.ADMIN, "invite members")
    email = email.strip().lower()
    new_role = _parse_role(role)
    if new_role == Role.OWNER:
        raise ValidationFailed(
            "Invite as admin, then transfer ownership.", field_errors={"role": ["Not allowed."]}
        )
    if Membership.objects.for_tenant(actor.tenant).filter(user__email__iexact=email).exists():
        raise Conflict(f"{email} is already a member.", field_errors={"email": ["Already a member."]})
    # A new invitation replaces a pending one for the same address (its link stops working).
    Invitation.objects.for_tenant(actor.tenant).filter(email=email, accepted_at__isnull=True).delete()
    invitation = Invitation(
        tenant=actor.tenant,
        email=email,
        role=new_role,
        invited_by=actor.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    token = invitation_token(invitation)
    invitation.token_hash = hash_secret(token)
    invitation.save(force_insert=True)
    audit(actor, action="invitation.created", target=invitation, changes={"email": email, "role": new_role})
    link = invitation_url(token)
    inviter = actor.user.display_name if actor.user else actor.tenant.name
    transaction.on_commit(
        lambda: send_mail(
            subject=f"{inviter} invited you to {actor.tenant.name} on Groundwork",
            message=(
                f"{inviter} invited you to join {actor.tenant.name} on Groundwork "
                f"as {new_role.label.lower()}.\n\n"
                f"Accept the invitation: {link}\n\n"
                f"The link works for {settings.INVITATION_MAX_AGE_DAYS} days."
            ),
            from_email=None,
            recipient_list=[email],
        )
    )
    return invitation


@runs_in_actor_tenant
def invitation_revoke(*, actor: Actor, invitation_id: uuid.UUID) -> None:
    actor.require(Role.ADMIN, "revoke invitations")
    invitation = selectors.invitation_get(tenant=actor.tenant, invitation_id=invitation_id)
    audit(actor, action="invitation.revoked", target=invitation, changes={"email": invitation.email})
    invitation.delete()


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    """The invited person, signed in with the invited address, joins the tenant."""
    invitation = selectors.invitation_preview(token_hash=hash_secret(token))
    if invitation is None or not invitation.is_pending:
        raise NotFound("This invitation link is invalid or has expired. Ask for a new one.")
    if invitation.email.lower() != user.email.lower():
        raise PermissionDenied(
            f"This invitation was sent to {invitation.email}. Sign in with that address to accept it."
        )
    tenant = invitation.tenant
    with tenant_context(tenant.pk):
        # Lock the invitation so two clicks on the same link cannot both create a membership.
        invitation = Invitation.objects.for_tenant(tenant).select_for_update().get(pk=invitation.pk)
        if not invitation.is_pending:
            raise NotFound("This invitation link is invalid or has expired. Ask for a new one.")
        if Membership.objects.for_tenant(tenant).filter(user=user).exists():
            raise Conflict(f"You are already a member of {tenant.name}.")
        membership = Membership.objects.create(
            tenant=tenant, user=user, role=invitation.role, last_used_at=timezone.now()
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
        audit(
            Actor(tenant=tenant, role=Role(invitation.role), user=user),
            action="membership.created",
            target=membership,
            changes={"user": user.email, "role": invitation.role, "via": "invitation"},
        )
    # The link came to this address, and the invitation was for it: the address is proven.
    user_mark_email_verified(user=user, via="invitation")
    return membership


def membership_touch(*, membership: Membership) -> None:
    """Remember which tenant a user worked in last, to open it after the next sign-in."""
    with tenant_context(membership.tenant_id):
        Membership.objects.filter(pk=membership.pk).update(last_used_at=timezone.now())


# --- API keys ---------------------------------------------------------------------------------------


@runs_in_actor_tenant
def api_key_create(*, actor: Actor, name: str, role: str = Role.VIEWER) -> tuple[ApiKey, str]:
    """A new secret API key. Returns the key and its secret; the secret is never retrievable again.
    Without a role it is a viewer's: more rights are asked for on purpose."""
    actor.require(Role.ADMIN, "create API keys")
    actor.require_verified_email("create API keys")
    name = name.strip()
    if not name:
        raise ValidationFailed(
            "Name the key after what uses it.", field_errors={"name": ["This field is required."]}
        )
    key_role = _parse_role(role)
    if key_role == Role.OWNER or not actor.can(key_role):
        raise PermissionDenied("A key cannot have more rights than its creator, nor the owner's.")
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey.objects.create(
        tenant=actor.tenant,
        name=name,
        prefix=secret[: len(API_KEY_PREFIX) + 6],
        secret_hash=hash_secret(secret),
        role=key_role,
        # A key made with a key belongs to that key's creator: it follows the same person's membership.
        created_by=actor.person,
    )
    audit(actor, action="api_key.created", target=api_key, changes={"name": name, "role": key_role})
    return api_key, secret


@runs_in_actor_tenant
def api_key_revoke(*, actor: Actor, api_key_id: uuid.UUID) -> ApiKey:
    actor.require(Role.ADMIN, "revoke API keys")
    api_key = selectors.api_key_get(tenant=actor.tenant, api_key_id=api_key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.revoked_reason = ApiKeyRevokedReason.BY_ADMIN
        api_key.save(update_fields=["revoked_at", "revoked_reason"])
        audit(actor, action="api_key.revoked", target=api_key, changes={"name": api_key.name})
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    now = timezone.now()
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_TOUCH_INTERVAL:
        with tenant_context(api_key.tenant_id):
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


def invitation_purge_expired() -> int:
    """Delete expired, unaccepted invitations of every tenant (a platform cleanup job)."""
    with unscoped(reason="platform cleanup of expired invitations across tenants"):
        deleted, _ = Invitation.objects.filter(
            accepted_at__isnull=True, expires_at__lte=timezone.now()
        ).delete()
    if deleted:
        logger.info("purged %d expired invitations", deleted)
    return deleted
