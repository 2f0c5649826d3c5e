"""The widget's public API, mounted at /public/v1/ by config/urls.py (see bots.widget.api)."""

from django.urls import URLPattern, path

from bots.widget import api

urlpatterns: list[URLPattern] = [
    path("bots/<str:key>", api.PublicConfigView.as_async_view(), name="public_bot"),
    path("bots/<str:key>/sessions", api.SessionView.as_async_view(), name="public_sessions"),
    path("bots/<str:key>/chat", api.PublicChatView.as_async_view(), name="public_chat"),
    path(
        "bots/<str:key>/conversations/<uuid:id>",
        api.PublicConversationView.as_async_view(),
        name="public_conversation",
    ),
    path(
        "bots/<str:key>/messages/<uuid:id>/feedback",
        api.PublicFeedbackView.as_async_view(),
        name="public_feedback",
    ),
]
