"""The widget's public API, mounted at /public/v1/ by config/urls.py (see bots.public_api)."""

from django.urls import URLPattern, path

from bots import public_api

urlpatterns: list[URLPattern] = [
    path("bots/<str:key>", public_api.PublicConfigView.as_async_view(), name="public_bot"),
    path("bots/<str:key>/sessions", public_api.SessionView.as_async_view(), name="public_sessions"),
    path("bots/<str:key>/chat", public_api.PublicChatView.as_async_view(), name="public_chat"),
    path(
        "bots/<str:key>/conversations/<uuid:id>",
        public_api.PublicConversationView.as_async_view(),
        name="public_conversation",
    ),
    path(
        "bots/<str:key>/messages/<uuid:id>/feedback",
        public_api.PublicFeedbackView.as_async_view(),
        name="public_feedback",
    ),
]
