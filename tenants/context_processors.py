"""Template context shared by every dashboard page: the signed-in user's organisations and role."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants import selectors
from tenants.models import Role, User
from tenants.views_base import SESSION_TENANT_KEY


def workspace(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if not isinstance(user, User) or not request.path.startswith("/app/"):
        return {}
    memberships = selectors.memberships_of_user(user=user)
    current_id = request.session.get(SESSION_TENANT_KEY)
    current = next((m for m in memberships if str(m.tenant_id) == current_id), None)
    role = Role(current.role) if current else None
    return {
        "workspace_memberships": memberships,
        "current_membership": current,
        "current_tenant": current.tenant if current else None,
        "can_edit": bool(role and role.includes(Role.EDITOR)),
        "can_admin": bool(role and role.includes(Role.ADMIN)),
        "is_owner": role == Role.OWNER,
    }
