"""The base of every dashboard page: the tenant, the member's role and the filtering, resolved once.

``TenantView.dispatch`` finds the signed-in user's membership in the tenant they are working in (kept in
the session), scopes the request's transaction to that tenant (RLS) and builds the ``Actor`` that
services take. Reads need ``read_role`` and writes ``write_role``. Domain errors become the same
404/403 pages everywhere, so "not yours" and "not there" look alike.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponseBase
from django.shortcuts import redirect
from django.views import View

from core.errors import GroundworkError, NotFound, PermissionDenied
from tenants import selectors
from tenants.actors import Actor
from tenants.context import activate_tenant
from tenants.models import Membership, Role, User

SESSION_TENANT_KEY = "tenant_id"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def resolve_membership(request: HttpRequest) -> Membership | None:
    """The membership the signed-in user is working in: the session's tenant, else their latest one."""
    user = request.user
    assert isinstance(user, User)
    tenant_id = request.session.get(SESSION_TENANT_KEY)
    if tenant_id:
        activate_tenant(tenant_id)
        membership = selectors.membership_of_user(tenant_id=tenant_id, user=user)
        if membership is not None:
            membership.user = user
            return membership
    memberships = selectors.memberships_of_user(user=user)
    if not memberships:
        return None
    membership = memberships[0]
    membership.user = user
    request.session[SESSION_TENANT_KEY] = str(membership.tenant_id)
    activate_tenant(membership.tenant_id)
    return membership


def form_with_errors(form: Form, error: GroundworkError) -> Form:
    """Show a domain error on the form: on its fields where it names them, else at the top."""
    placed = False
    for field, messages in error.field_errors.items():
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)
    return form


class TenantView(LoginRequiredMixin, View):
    read_role = Role.VIEWER
    write_role = Role.EDITOR
    actor: Actor
    membership: Membership

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        membership = resolve_membership(request)
        if membership is None:
            return redirect("dashboard:organisation_create")
        self.membership = membership
        self.actor = Actor(tenant=membership.tenant, role=Role(membership.role), user=membership.user)
        required = self.read_role if request.method in SAFE_METHODS else self.write_role
        if not self.actor.can(required):
            raise DjangoPermissionDenied(f"Your role ({self.actor.role.label.lower()}) cannot do this here.")
        try:
            return super().dispatch(request, *args, **kwargs)
        except NotFound as error:
            raise Http404(error.message) from error
        except PermissionDenied as error:
            raise DjangoPermissionDenied(error.message) from error

    @property
    def tenant(self) -> Any:
        return self.actor.tenant

    def scoped(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """Narrow a tenant-owned queryset to this tenant (for generic list/detail views)."""
        return queryset.filter(tenant_id=self.actor.tenant.pk)
