"""Dashboard pages for accounts, the organisation, its team and its API keys.

Views stay thin: they validate a form, call a service, and render or redirect. Everything tenant-scoped
derives from ``TenantView``; the few pages before a tenant is chosen (sign-up, invitations, switching)
check membership themselves through selectors.
"""

from __future__ import annotations

import uuid
from datetime import UTC
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordResetForm, SetPasswordForm
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import LoginView
from django.db.models import QuerySet
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django_htmx.http import HttpResponseClientRedirect

from bots.chat.presentation import present_conversation
from core import public_urls
from core.client_address import client_address
from core.errors import GroundworkError, NotFound, RateLimited
from core.spreadsheets import csv_line
from tenants import overview, selectors, services, throttling
from tenants.audit import AuditFilters, audit_entries, filtered_events
from tenants.context import activate_tenant
from tenants.forms import (
    ApiKeyForm,
    AuditFilterForm,
    DeleteOrganisationForm,
    InviteForm,
    OrganisationForm,
    RoleForm,
    SignInForm,
    SignUpForm,
    TransferOwnershipForm,
)
from tenants.models import ROLE_DESCRIPTIONS, AuditEvent, Invitation, Membership, Role, Tenant, User
from tenants.views_base import SESSION_TENANT_KEY, TenantFormView, TenantView, form_with_errors

# --- before a tenant ---------------------------------------------------------------------------------


class SignInView(LoginView):
    form_class = SignInForm
    template_name = "tenants/sign_in.html"
    redirect_authenticated_user = True


class SignUpView(View):
    """Sign up. Arriving from an invitation link (``?next=/app/invitations/...``), no organisation is made.

    Every sign-up ends on the same "check your email" page whether or not the address already has an
    account (the service emails its owner instead of creating anything), so the page cannot be used to
    find out who is a customer. Only the invited address signing up from its own invitation link (which
    proves it reads that mailbox) is signed in at once.
    """

    template_name = "tenants/sign_up.html"

    def safe_next(self) -> str:
        next_url = self.request.GET.get("next", "")
        allowed = url_has_allowed_host_and_scheme(
            next_url, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        )
        return next_url if allowed else ""

    def invitation_token(self) -> str | None:
        """The token of the invitation link in ``next``, when the person came to accept one."""
        try:
            match = resolve(urlsplit(self.safe_next()).path)
        except Resolver404:
            return None
        return str(match.kwargs["token"]) if match.url_name == "invitation_accept" else None

    def joining(self) -> bool:
        return self.invitation_token() is not None

    def render_form(self, form: SignUpForm, status: int = 200) -> HttpResponse:
        return render(
            self.request, self.template_name, {"form": form, "joining": self.joining()}, status=status
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            return redirect("dashboard:home")
        return self.render_form(
            SignUpForm(joining=self.joining(), initial={"email": request.GET.get("email", "")})
        )

    def post(self, request: HttpRequest) -> HttpResponse:
        form = SignUpForm(request.POST, joining=self.joining())
        if not form.is_valid():
            return self.render_form(form, status=400)
        data = form.cleaned_data
        token = self.invitation_token()
        try:
            throttling.throttle_by_address_and_email(request, scope="sign-up", email=data["email"])
            invited = (
                services.user_sign_up_invited(
                    token=token, email=data["email"], password=data["password"], full_name=data["full_name"]
                )
                if token is not None
                else None
            )
            if invited is None:
                services.user_sign_up(
                    email=data["email"],
                    password=data["password"],
                    full_name=data["full_name"],
                    organisation_name=data.get("organisation_name"),
                )
        except RateLimited as error:
            return self.render_form(form_with_errors(form, error), status=429)  # type: ignore[arg-type]
        except GroundworkError as error:
            return self.render_form(form_with_errors(form, error), status=400)  # type: ignore[arg-type]
        if invited is not None:
            login(request, invited, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(self.safe_next())
        return redirect("signup_check_email")


class SignUpCheckEmailView(View):
    """Where every sign-up lands, new address or known one: the same words for both."""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, "tenants/sign_up_check_email.html")


class VerifyEmailView(View):
    """The link in the verification email. A GET verifies (a mail scanner that follows the link only
    proves the address sooner); it never signs anyone in."""

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            user = services.user_verify_email(token=token)
        except NotFound as error:
            return render(
                request, "tenants/verify_email_invalid.html", {"message": error.message}, status=404
            )
        if request.user.is_authenticated and request.user.pk == user.pk:
            messages.success(request, "Your email address is verified. Thank you!")
            return redirect("dashboard:home")
        messages.success(request, f"{user.email} is verified. Sign in to continue.")
        return redirect("login")


class ResendVerificationView(LoginRequiredMixin, View):
    """Send the signed-in person a new verification link (rate-limited per account)."""

    def post(self, request: HttpRequest) -> HttpResponse:
        assert isinstance(request.user, User)
        user = request.user
        try:
            throttling.throttle("verification-email", str(user.pk), settings.ACCOUNT_RATE_PER_EMAIL)
        except RateLimited as error:
            messages.error(request, error.message)
        else:
            if user.is_email_verified:
                messages.info(request, "Your email address is already verified.")
            else:
                services.user_send_verification_email(user=user)
                messages.success(request, f"We sent a new verification link to {user.email}.")
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = ""
        return redirect(back or "dashboard:home")


class PasswordResetView(auth_views.PasswordResetView):
    """Django's reset request (the same answer for known and unknown addresses), rate-limited per
    client address and per email address."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        try:
            throttling.throttle_by_address_and_email(
                self.request, scope="password-reset", email=form.cleaned_data["email"]
            )
        except RateLimited as error:
            form.add_error(None, error.message)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Choosing a new password from the emailed link also proves the address and lifts a sign-in
    lockout of the account (its owner just showed they hold its mailbox)."""

    def form_valid(self, form: SetPasswordForm) -> HttpResponse:
        response = super().form_valid(form)
        user = form.user
        services.user_mark_email_verified(user=user, via="password_reset")
        axes_reset(username=user.email)
        return response


class OrganisationCreateView(LoginRequiredMixin, View):
    """Another organisation for a signed-in user (or the first, for someone who left their last one)."""

    template_name = "tenants/organisation_create.html"

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(request, self.template_name, {"form": OrganisationForm()})

    def post(self, request: HttpRequest) -> HttpResponse:
        form = OrganisationForm(request.POST)
        if form.is_valid():
            assert isinstance(request.user, User)
            try:
                tenant = services.tenant_create(name=form.cleaned_data["name"], owner=request.user)
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                request.session[SESSION_TENANT_KEY] = str(tenant.pk)
                messages.success(request, f"Created {tenant.name}.")
                return redirect("dashboard:home")
        return render(request, self.template_name, {"form": form}, status=400)


class SwitchTenantView(LoginRequiredMixin, View):
    """Work in another of the user's organisations. Not a member: the same 404 as no such tenant."""

    def post(self, request: HttpRequest, tenant_id: uuid.UUID) -> HttpResponse:
        assert isinstance(request.user, User)
        activate_tenant(tenant_id)
        membership = selectors.membership_of_user(tenant_id=tenant_id, user=request.user)
        if membership is None:
            raise Http404("No such organisation.")
        request.session[SESSION_TENANT_KEY] = str(tenant_id)
        services.membership_touch(membership=membership)
        messages.info(request, f"You are now working in {membership.tenant.name}.")
        return redirect("dashboard:home")


class InvitationAcceptView(View):
    template_name = "tenants/invitation.html"

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        invitation = selectors.invitation_preview(token_hash=services.hash_secret(token))
        valid = invitation is not None and invitation.is_pending
        return render(
            request,
            self.template_name,
            {"invitation": invitation if valid else None, "token": token},
            status=200 if valid else 404,
        )

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(f"{reverse('login')}?next={request.path}")
        assert isinstance(request.user, User)
        try:
            throttling.throttle(
                "invitation-accept:address", client_address(request), settings.ACCOUNT_RATE_PER_ADDRESS
            )
            throttling.throttle(
                "invitation-accept:account", str(request.user.pk), settings.ACCOUNT_RATE_PER_EMAIL
            )
            membership = services.invitation_accept(token=token, user=request.user)
        except GroundworkError as error:
            messages.error(request, error.message)
            return redirect(request.path)
        request.session[SESSION_TENANT_KEY] = str(membership.tenant_id)
        messages.success(request, f"You joined {membership.tenant.name}.")
        return redirect("dashboard:home")


# --- inside a tenant --------------------------------------------------------------------------------


HOME_ACTIVITY_ENTRIES = 6


class HomeView(TenantView):
    """Where the tenant stands: getting started (from its data), its bots and whether they can answer,
    the latest conversations and, for admins, the latest changes in the audit log's words."""

    def get(self, request: HttpRequest) -> HttpResponse:
        can_admin = self.actor.can(Role.ADMIN)
        context = {
            "member_count": selectors.tenant_member_count(tenant=self.tenant),
            "api_key_count": selectors.api_key_working_count(tenant=self.tenant),
            "checklist": overview.getting_started(tenant=self.tenant),
            "bots": overview.home_bots(tenant=self.tenant, next_path=request.path),
            "conversations": [
                present_conversation(conversation)
                for conversation in overview.recent_conversations(tenant=self.tenant)
            ],
            "recent_entries": audit_entries(
                tenant=self.tenant,
                events=selectors.audit_event_list(tenant=self.tenant)[:HOME_ACTIVITY_ENTRIES],
            )
            if can_admin
            else [],
        }
        return render(request, "tenants/home.html", context)


class UpcomingSectionView(TenantView):
    """Sections whose features are still being built: the page says so instead of pretending."""

    section: str = ""
    icon: str = ""
    description: str = ""

    def get(self, request: HttpRequest) -> HttpResponse:
        return render(
            request,
            "tenants/upcoming.html",
            {
                "section": self.section,
                "icon": self.icon,
                "description": self.description,
            },
        )


class TeamView(TenantFormView):
    """The team page, and its invitation form."""

    write_role = Role.ADMIN
    form_class = InviteForm

    def context(self, invite_form: Form) -> dict[str, Any]:
        # Only admins see pending invitations, and with them each one's link (a secret: it lets its
        # holder join), to hand over by hand where the server sends no email.
        invitations = (
            list(selectors.invitation_list(tenant=self.tenant)) if self.actor.can(Role.ADMIN) else []
        )
        return {
            "memberships": selectors.membership_list(tenant=self.tenant),
            "invitations": [
                (invitation, selectors.invitation_link(invitation=invitation)) for invitation in invitations
            ],
            "invite_form": invite_form,
            "role_form": RoleForm(),
            "role_descriptions": ROLE_DESCRIPTIONS,
            "can_manage": self.actor.can(Role.ADMIN),
        }

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        return render(self.request, "tenants/team.html", self.context(invite_form=form), status=status)

    def perform(self, form: Form) -> Invitation:
        return services.invitation_create(actor=self.actor, **form.cleaned_data)

    def success_url(self, result: Invitation) -> str:
        return reverse("dashboard:team")

    def success_message(self, result: Invitation) -> str:
        return f"Invitation sent to {result.email}."


class MemberRoleView(TenantView):
    """Change a member's role: a classic form post, or htmx swapping just the role cell."""

    write_role = Role.ADMIN

    def post(self, request: HttpRequest, membership_id: uuid.UUID) -> HttpResponse:
        membership = selectors.membership_get(tenant=self.tenant, membership_id=membership_id)
        form = RoleForm(request.POST)
        error = "" if form.is_valid() else "Choose a valid role."
        if not error:
            try:
                membership = services.membership_change_role(
                    actor=self.actor, membership_id=membership.pk, role=form.cleaned_data["role"]
                )
            except GroundworkError as failure:
                error = failure.message
        if request.htmx:  # type: ignore[attr-defined]
            return render(
                request,
                "tenants/_member_role_cell.html",
                {
                    "m": membership,
                    "can_manage": True,
                    "role_form": RoleForm(),
                    "role_saved": not error,
                    "role_error": error,
                },
                status=200 if not error else 400,
            )
        if error:
            messages.error(request, error)
        else:
            messages.success(request, f"{membership.user.email} is now {membership.role}.")
        return redirect("dashboard:team")


class MemberRemoveView(TenantView):
    write_role = Role.VIEWER  # anyone may leave; removing others is checked by the service

    def post(self, request: HttpRequest, membership_id: uuid.UUID) -> HttpResponse:
        membership = selectors.membership_get(tenant=self.tenant, membership_id=membership_id)
        leaving = membership.user_id == request.user.pk
        try:
            services.membership_remove(actor=self.actor, membership_id=membership.pk)
        except GroundworkError as error:
            messages.error(request, error.message)
            if request.htmx:  # type: ignore[attr-defined]
                return HttpResponseClientRedirect(reverse("dashboard:team"))  # a full page, with the message
            return redirect("dashboard:team")
        if leaving:
            request.session.pop(SESSION_TENANT_KEY, None)
            messages.success(request, f"You left {self.tenant.name}.")
            return redirect("dashboard:home")
        if request.htmx:  # type: ignore[attr-defined]
            return HttpResponse("")  # htmx swaps the member's row out
        messages.success(request, f"Removed {membership.user.email}.")
        return redirect("dashboard:team")


class InvitationRevokeView(TenantView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, invitation_id: uuid.UUID) -> HttpResponse:
        services.invitation_revoke(actor=self.actor, invitation_id=invitation_id)
        messages.success(request, "Invitation revoked.")
        return redirect("dashboard:team")


class ApiKeysView(TenantView):
    read_role = Role.ADMIN
    write_role = Role.ADMIN
    template_name = "tenants/api_keys.html"

    def render_page(self, form: ApiKeyForm, *, new_secret: str = "", status: int = 200) -> HttpResponse:
        return render(
            self.request,
            self.template_name,
            {
                "api_keys": selectors.api_key_list(tenant=self.tenant),
                "form": form,
                "new_secret": new_secret,
                "api_base_url": public_urls.public_base_url(self.request),
            },
            status=status,
        )

    def get(self, request: HttpRequest) -> HttpResponse:
        return self.render_page(ApiKeyForm())

    def post(self, request: HttpRequest) -> HttpResponse:
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            try:
                _, secret = services.api_key_create(actor=self.actor, **form.cleaned_data)
            except GroundworkError as error:
                form_with_errors(form, error)
            else:
                # Rendered, not redirected: this response is the only place the secret ever appears.
                response = self.render_page(ApiKeyForm(), new_secret=secret)
                response["Cache-Control"] = "no-store"
                return response
        return self.render_page(form, status=400)


class ApiKeyRevokeView(TenantView):
    write_role = Role.ADMIN

    def post(self, request: HttpRequest, api_key_id: uuid.UUID) -> HttpResponse:
        api_key = services.api_key_revoke(actor=self.actor, api_key_id=api_key_id)
        messages.success(request, f"Revoked “{api_key.name}”. Requests with it now get 401.")
        return redirect("dashboard:api_keys")


class SettingsPage(TenantFormView):
    """The settings page and its three forms, each posted to its own view: the organisation's name,
    ownership and deletion. A form with errors renders the page again with it in its place."""

    write_role = Role.ADMIN
    template_name = "tenants/settings.html"
    form_slot: str  # the form's name in the page's context

    @cached_property
    def heir_choices(self) -> list[tuple[str, str]]:
        """Members who could become the owner, as form choices."""
        return [
            (str(m.pk), f"{m.user.email} ({m.role})")
            for m in selectors.membership_list(tenant=self.tenant).exclude(role=Role.OWNER)
        ]

    def render_page(self, *, status: int = 200, **forms: Form) -> HttpResponse:
        choices = self.heir_choices
        context = {
            "form": forms.get("form") or OrganisationForm(initial={"name": self.tenant.name}),
            "transfer_form": forms.get("transfer_form") or TransferOwnershipForm(choices=choices),
            "delete_form": forms.get("delete_form") or DeleteOrganisationForm(),
            "has_other_members": bool(choices),
        }
        return render(self.request, self.template_name, context, status=status)

    def render_form(self, form: Form, status: int = 200) -> HttpResponse:
        return self.render_page(status=status, **{self.form_slot: form})

    def success_url(self, result: Any) -> str:
        return reverse("dashboard:settings")


class SettingsView(SettingsPage):
    form_class = OrganisationForm
    form_slot = "form"

    def form_kwargs(self) -> dict[str, Any]:
        return {"initial": {"name": self.tenant.name}}

    def perform(self, form: Form) -> Tenant:
        return services.tenant_update(actor=self.actor, name=form.cleaned_data["name"])

    def success_message(self, result: Tenant) -> str:
        return "Settings saved."


class TransferOwnershipView(SettingsPage):
    write_role = Role.OWNER
    form_class = TransferOwnershipForm
    form_slot = "transfer_form"

    def form_kwargs(self) -> dict[str, Any]:
        return {"choices": self.heir_choices}

    def perform(self, form: Form) -> Membership:
        return services.tenant_transfer_ownership(
            actor=self.actor, membership_id=form.cleaned_data["membership_id"]
        )

    def success_message(self, result: Membership) -> str:
        return f"{result.user.email} now owns {self.tenant.name}; you are an admin."


class DeleteOrganisationView(SettingsPage):
    write_role = Role.OWNER
    form_class = DeleteOrganisationForm
    form_slot = "delete_form"

    def perform(self, form: Form) -> str:
        """Delete the organisation and stop working in it; the result is its name, for the message."""
        name = self.tenant.name
        services.tenant_delete(actor=self.actor, confirm_name=form.cleaned_data["confirm_name"])
        self.request.session.pop(SESSION_TENANT_KEY, None)
        return name

    def success_url(self, result: str) -> str:
        return reverse("dashboard:home")

    def success_message(self, result: str) -> str:
        return f"{result} and everything in it were deleted."


AUDIT_LOG_PAGE_ROWS = 200
# An export is every matching entry up to this many: years of a busy organisation, still one response.
AUDIT_EXPORT_MAX_ROWS = 50_000


class AuditLogView(TenantView):
    """The audit log in words, filtered by kind of change, person and days; the same filters export."""

    read_role = Role.ADMIN

    def filtered(self) -> tuple[AuditFilterForm, QuerySet[AuditEvent]]:
        """The filter form from the query string and the events it selects (all of them when invalid:
        the form then shows what to fix)."""
        form = AuditFilterForm(
            self.request.GET or None, actors=selectors.audit_actor_choices(tenant=self.tenant)
        )
        filters = AuditFilters()
        if form.is_valid():
            data = form.cleaned_data
            filters = AuditFilters(
                kind=data["kind"], actor=data["actor"], since=data["since"], until=data["until"]
            )
        return form, filtered_events(selectors.audit_event_list(tenant=self.tenant), filters)

    def get(self, request: HttpRequest) -> HttpResponse:
        form, events = self.filtered()
        entries = audit_entries(tenant=self.tenant, events=events[:AUDIT_LOG_PAGE_ROWS])
        query = request.GET.urlencode() if form.is_bound and form.is_valid() else ""
        return render(
            request,
            "tenants/audit_log.html",
            {
                "entries": entries,
                "form": form,
                "filtering": form.is_bound,
                "page_rows": AUDIT_LOG_PAGE_ROWS,
                "export_url": reverse("dashboard:audit_log_export") + (f"?{query}" if query else ""),
            },
            status=400 if form.is_bound and not form.is_valid() else 200,
        )


class AuditLogExportView(AuditLogView):
    """The filtered audit log as CSV: one entry per row, in words, cells a spreadsheet cannot run."""

    def get(self, request: HttpRequest) -> HttpResponse:
        form, events = self.filtered()
        if form.is_bound and not form.is_valid():
            messages.error(request, "Fix the filters before exporting: " + _form_error_text(form))
            return redirect(reverse("dashboard:audit_log") + f"?{request.GET.urlencode()}")
        entries = audit_entries(tenant=self.tenant, events=events[:AUDIT_EXPORT_MAX_ROWS])
        lines = [csv_line(["When (UTC)", "Who", "What", "Kind", "Sentence"])]
        lines.extend(
            csv_line(
                [
                    entry.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
                    entry.actor,
                    entry.sentence,
                    entry.kind,
                    entry.text,
                ]
            )
            for entry in entries
        )
        response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y-%m-%d")
        response["Content-Disposition"] = f'attachment; filename="audit-log-{self.tenant.slug}-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


def _form_error_text(form: Form) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)
