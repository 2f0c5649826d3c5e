"""Tenants, their people and their keys, made as the product makes them.

``make_world(name)`` is a tenant with its owner (``tenants.services.tenant_create``); a ``World`` acts in
its tenant (``world.actor(role)``) and adds members and API keys to it. Tenant-owned rows are made
through services (they set the tenant context, check roles and audit); every app's factories take a
``World`` and act as its owner unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import factory
from django.utils import timezone

from tenants import services
from tenants.actors import Actor
from tenants.context import tenant_context
from tenants.models import ApiKey, Membership, Role, Tenant, User

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    full_name = factory.Faker("name")
    password = factory.django.Password(PASSWORD)
    # Verified by default, as most tests are about what a verified person may do; tests of the
    # unverified path pass ``email_verified_at=None``.
    email_verified_at = factory.LazyFunction(timezone.now)


@dataclass
class World:
    """A tenant with its owner, and helpers to add members and keys to it."""

    tenant: Tenant
    owner: User

    def actor(self, role: Role = Role.OWNER, user: User | None = None) -> Actor:
        return Actor(tenant=self.tenant, role=role, user=user or self.owner)

    def add_member(self, role: Role, email: str | None = None, *, user: User | None = None) -> Membership:
        """A member with ``role``: a new user (with ``email`` if given), or ``user`` (a member of another
        tenant, say), who has never opened this tenant.

        Made directly: the only service that adds a member accepts an emailed invitation, which would
        leave an invitation, audit events and a last-used time behind that tests of those must not see.
        """
        if user is None:
            user = UserFactory(email=email) if email else UserFactory()
        with tenant_context(self.tenant.pk):
            return Membership.objects.create(tenant=self.tenant, user=user, role=role)

    def api_key(self, role: Role = Role.ADMIN, name: str = "test key") -> tuple[ApiKey, str]:
        with tenant_context(self.tenant.pk):
            return services.api_key_create(actor=self.actor(), name=name, role=role)


def make_world(name: str = "Acme") -> World:
    owner = UserFactory()
    tenant = services.tenant_create(name=name, owner=owner)
    return World(tenant=tenant, owner=owner)
