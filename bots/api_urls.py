"""REST routes of the bots app (mounted at /api/v1/), the OpenAI-compatible ones included."""

from django.urls import URLPattern, URLResolver, include, path

from bots import api, chat_views

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots", api.BotListView.as_view(), name="bot-list"),
    path("bots/<str:id>", api.BotDetailView.as_view(), name="bot-detail"),
    path("bots/<str:id>/rotate-key", api.BotRotateKeyView.as_view(), name="bot-rotate-key"),
    path("bots/<str:id>/chat", chat_views.BotChatView.as_async_view(), name="bot-chat"),
    path("conversations", api.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/export", api.ConversationExportView.as_view(), name="conversation-export"),
    path("conversations/<uuid:id>", api.ConversationDetailView.as_view(), name="conversation-detail"),
    path("messages/<uuid:id>/feedback", api.MessageFeedbackView.as_view(), name="message-feedback"),
    path("messages/<uuid:id>/correction", api.MessageCorrectionView.as_view(), name="message-correction"),
    # OpenAI-compatible: any OpenAI SDK with base_url=<host>/api/v1 and a secret API key.
    path("models", api.OpenAIModelListView.as_view(), name="openai-model-list"),
    path("models/<str:model>", api.OpenAIModelDetailView.as_view(), name="openai-model-detail"),
    path("chat/completions", chat_views.ChatCompletionsView.as_async_view(), name="openai-chat-completions"),
    path("", include("bots.regression.api_urls")),
]
