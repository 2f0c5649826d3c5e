"""Test data. Tenant-owned rows are made through services (they set the tenant context and audit)."""

from __future__ import annotations

from dataclasses import dataclass

import factory

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


@dataclass
class World:
    """A tenant with its owner, and helpers to add members and keys to it."""

    tenant: Tenant
    owner: User

    def actor(self, role: Role = Role.OWNER, user: User | None = None) -> Actor:
        return Actor(tenant=self.tenant, role=role, user=user or self.owner)

    def add_member(self, role: Role, email: str | None = None) -> Membership:
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
