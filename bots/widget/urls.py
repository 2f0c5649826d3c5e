"""Dashboard routes of a bot's Install page (added to the "dashboard" namespace by config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from bots.widget import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots/<uuid:pk>/install/", views.BotInstallView.as_view(), name="bot_install"),
    path("bots/<uuid:pk>/install/test-page/", views.BotWidgetTestView.as_view(), name="bot_widget_test"),
    path(
        "bots/<uuid:pk>/install/preview-token/",
        views.BotPreviewTokenView.as_view(),
        name="bot_preview_token",
    ),
    path(
        "bots/<uuid:pk>/install/status/",
        views.BotInstallationStatusView.as_view(),
        name="bot_installation_status",
    ),
    path("bots/<uuid:pk>/install/publish/", views.BotPublishView.as_view(), name="bot_publish"),
    path(
        "bots/<uuid:pk>/install/identity-secret/",
        views.BotIdentitySecretView.as_view(),
        name="bot_identity_secret",
    ),
    path(
        "bots/<uuid:pk>/install/identity-secret/clear/",
        views.BotIdentitySecretClearView.as_view(),
        name="bot_identity_secret_clear",
    ),
]
