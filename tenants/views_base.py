"""The base of every dashboard page: the tenant, the member's role and the filtering, resolved once.

``TenantView.dispatch`` finds the signed-in user's membership in the tenant they are working in (kept in
the session), scopes the request's transaction to that tenant (RLS) and builds the ``Actor`` that
services take. Reads need ``read_role`` and writes ``write_role``. Domain errors become the same
404/403 pages everywhere, so "not yours" and "not there" look alike.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import QuerySet
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
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
    for field, field_messages in error.field_errors.items():
        if field in form.fields:
            for message in field_messages:
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


class TenantFormView(TenantView):
    """A dashboard form whose valid submission is one service call: form, service, errors, redirect.

    ``post`` validates the form, calls :meth:`perform` (the service), then redirects to
    :meth:`success_url` with :meth:`success_message`; a form error or a domain error from the service is
    shown on the form, re-rendered by :meth:`render_form` with status 400. Subclasses set ``form_class``
    (or override :meth:`make_form`) and read URL arguments from ``self.kwargs``.
    """

    form_class: type[Form]

    def form_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the form besides its data (choices, initial values)."""
        return {}

    def make_form(self, data: Any = None) -> Form:
        return self.form_class(data, **self.form_kwargs())

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        raise NotImplementedError

    def perform(self, form: Form) -> Any:
        """Call the service with the form's cleaned data; its result goes to the success hooks."""
        raise NotImplementedError

    def success_url(self, result: Any) -> str:
        raise NotImplementedError

    def success_message(self, result: Any) -> str:
        return ""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.render_form(self.make_form())

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        form = self.make_form(request.POST)
        if form.is_valid():
            try:
                result = self.perform(form)
            except (NotFound, PermissionDenied):
                raise  # not the form's fault: the same 404 or 403 pages as everywhere
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                message = self.success_message(result)
                if message:
                    messages.success(request, message)
                return redirect(self.success_url(result))
        return self.render_form(form, status=400)
