"""REST routes of the bots app (mounted at /api/v1/): bots, then chat (the OpenAI-compatible routes
included) and regression suites from their packages."""

from django.urls import URLPattern, URLResolver, include, path

from bots import api

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots", api.BotListView.as_view(), name="bot-list"),
    path("bots/<str:id>", api.BotDetailView.as_view(), name="bot-detail"),
    path("bots/<str:id>/rotate-key", api.BotRotateKeyView.as_view(), name="bot-rotate-key"),
    path("", include("bots.chat.api_urls")),
    path("", include("bots.regression.api_urls")),
]
