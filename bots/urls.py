"""Dashboard routes for bots and conversations (mounted at /app/ in the "dashboard" namespace by
config/urls.py).

Every route takes one id, named pk: tests/security enumerates id routes and fills in the parameters it
knows. Route names start with "bot" or "conversation", which is how the sidebar highlights the section
on every page of it.
"""

from django.urls import URLPattern, URLResolver, path

from bots import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots/", views.BotListView.as_view(), name="bots"),
    path("bots/new/", views.BotCreateView.as_view(), name="bot_create"),
    path("bots/<uuid:pk>/", views.BotView.as_view(), name="bot"),
    path("bots/<uuid:pk>/settings/", views.BotUpdateView.as_view(), name="bot_update"),
    path("bots/<uuid:pk>/install/", views.BotInstallView.as_view(), name="bot_install"),
    path("bots/<uuid:pk>/install/test-page/", views.BotWidgetTestView.as_view(), name="bot_widget_test"),
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
    path("bots/<uuid:pk>/rotate-key/", views.BotRotateKeyView.as_view(), name="bot_rotate_key"),
    path("bots/<uuid:pk>/delete/", views.BotDeleteView.as_view(), name="bot_delete"),
    path("bots/<uuid:pk>/playground/", views.playground_view, name="bot_playground"),
    path("bots/answers/<uuid:pk>/rate/", views.RateView.as_view(), name="bot_rate"),
    path("conversations/", views.ConversationListView.as_view(), name="conversations"),
    path("conversations/export/", views.ConversationExportView.as_view(), name="conversations_export"),
    path("conversations/<uuid:pk>/", views.ConversationView.as_view(), name="conversation"),
    path(
        "conversations/answers/<uuid:pk>/correct/",
        views.CorrectionView.as_view(),
        name="conversation_correct",
    ),
]
