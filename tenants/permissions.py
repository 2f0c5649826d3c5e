"""DRF permission: an API key of this tenant whose role covers the method's required role.

``request.auth.role`` is the key's effective role (tenants.authentication): never above its creator's.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from tenants.models import ApiKey, Role


class IsTenantMember(BasePermission):
    message = "This API key's role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        if not isinstance(request.auth, ApiKey):
            return False
        required = (
            getattr(view, "read_role", Role.VIEWER)
            if request.method in SAFE_METHODS
            else getattr(view, "write_role", Role.EDITOR)
        )
        return Role(request.auth.role).includes(required)
