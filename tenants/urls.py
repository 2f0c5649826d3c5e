"""Dashboard routes for accounts, the organisation, team and API keys (mounted at /app/).

``config/urls.py`` puts these and the other apps' pages into the one "dashboard" namespace.
"""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from tenants import views
from tenants.password_reset import PasswordResetForm

# Sections still being built: a page that says so under their final URL, until their app replaces it.
# (slug, title, bootstrap icon, what it will do)
SECTIONS: list[tuple[str, str, str, str]] = []

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    *[
        path(
            f"{slug}/",
            views.UpcomingSectionView.as_view(section=title, icon=icon, description=text),
            name=slug,
        )
        for slug, title, icon, text in SECTIONS
    ],
    path("team/", views.TeamView.as_view(), name="team"),
    path("team/members/<uuid:membership_id>/role/", views.MemberRoleView.as_view(), name="member_role"),
    path("team/members/<uuid:membership_id>/remove/", views.MemberRemoveView.as_view(), name="member_remove"),
    path(
        "team/invitations/<uuid:invitation_id>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation_revoke",
    ),
    path("api-keys/", views.ApiKeysView.as_view(), name="api_keys"),
    path("api-keys/<uuid:api_key_id>/revoke/", views.ApiKeyRevokeView.as_view(), name="api_key_revoke"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/transfer-ownership/", views.TransferOwnershipView.as_view(), name="transfer_ownership"),
    path("settings/delete/", views.DeleteOrganisationView.as_view(), name="delete_organisation"),
    path("settings/audit-log/", views.AuditLogView.as_view(), name="audit_log"),
    path("settings/audit-log/export.csv", views.AuditLogExportView.as_view(), name="audit_log_export"),
    path("organisations/new/", views.OrganisationCreateView.as_view(), name="organisation_create"),
    path("organisations/<uuid:tenant_id>/switch/", views.SwitchTenantView.as_view(), name="switch_tenant"),
]

# Outside the "dashboard" namespace: Django's auth views reverse these names.
account_urlpatterns = [
    path("sign-in/", views.SignInView.as_view(), name="login"),
    path("sign-out/", auth_views.LogoutView.as_view(), name="logout"),
    path("sign-up/", views.SignUpView.as_view(), name="signup"),
    path("sign-up/check-your-email/", views.SignUpCheckEmailView.as_view(), name="signup_check_email"),
    path("verify-email/resend/", views.ResendVerificationView.as_view(), name="verify_email_resend"),
    path("verify-email/<str:token>/", views.VerifyEmailView.as_view(), name="verify_email"),
    path("invitations/<str:token>/", views.InvitationAcceptView.as_view(), name="invitation_accept"),
    path(
        "password-reset/",
        views.PasswordResetView.as_view(
            template_name="tenants/password_reset.html",
            email_template_name="tenants/password_reset_email.txt",
            subject_template_name="tenants/password_reset_subject.txt",
            form_class=PasswordResetForm,
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="tenants/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "password-reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(
            template_name="tenants/password_reset_confirm.html",
            success_url=reverse_lazy("password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.PasswordResetCompleteView.as_view(template_name="tenants/password_reset_complete.html"),
        name="password_reset_complete",
    ),
]
