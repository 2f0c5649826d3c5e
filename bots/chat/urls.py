"""Dashboard routes of chat: the builder's playground, ratings and the Conversations pages (added to the
"dashboard" namespace by config/urls.py)."""

from django.urls import URLPattern, URLResolver, path

from bots.chat import views

urlpatterns: list[URLPattern | URLResolver] = [
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
