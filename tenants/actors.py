"""Who is acting, for which tenant, with which role: the first argument of every service.

Resolved once per request by the base API view (from an API key) or the base dashboard view (from the
signed-in user's membership), and per task from the task's arguments. Services check the role they need
with ``actor.require(...)``, so the API and the dashboard enforce the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import PermissionDenied
from tenants.models import ApiKey, Role, Tenant, User


class EmailNotVerified(PermissionDenied):
    """An action that needs a proven email address (API keys, publishing a bot), asked before it."""


@dataclass(frozen=True)
class Actor:
    tenant: Tenant
    role: Role
    user: User | None = None
    api_key: ApiKey | None = None

    @property
    def label(self) -> str:
        if self.user is not None:
            return self.user.email
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.prefix}…)"
        return "system"

    @property
    def person(self) -> User | None:
        """The person accountable for the action: the signed-in user, or the creator of the API key
        (a key acts for whoever made it)."""
        if self.user is not None:
            return self.user
        return self.api_key.created_by if self.api_key is not None else None

    def require_verified_email(self, action: str) -> None:
        """Refuse ``action`` until the person behind the actor has proved their email address."""
        person = self.person
        if person is None or not person.is_email_verified:
            raise EmailNotVerified(
                f"Verify your email address before you {action}: open the link we emailed to "
                f"{person.email if person else 'you'}, or send a new one with “Resend verification email”."
            )

    def can(self, role: Role) -> bool:
        return self.role.includes(role)

    def require(self, role: Role, action: str) -> None:
        if not self.can(role):
            raise PermissionDenied(f"Only {role.label.lower()}s and above can {action}.")
