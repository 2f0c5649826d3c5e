"""REST routes of chat (mounted at /api/v1/ through ``bots.api_urls``), the OpenAI-compatible ones too."""

from django.urls import URLPattern, URLResolver, path

from bots.chat import api, openai_compat

urlpatterns: list[URLPattern | URLResolver] = [
    path("bots/<str:id>/chat", api.BotChatView.as_async_view(), name="bot-chat"),
    path("conversations", api.ConversationListView.as_view(), name="conversation-list"),
    path("conversations/export", api.ConversationExportView.as_view(), name="conversation-export"),
    path("conversations/<uuid:id>", api.ConversationDetailView.as_view(), name="conversation-detail"),
    path("messages/<uuid:id>/feedback", api.MessageFeedbackView.as_view(), name="message-feedback"),
    path("messages/<uuid:id>/correction", api.MessageCorrectionView.as_view(), name="message-correction"),
    # OpenAI-compatible: any OpenAI SDK with base_url=<host>/api/v1 and a secret API key.
    path("models", openai_compat.OpenAIModelListView.as_view(), name="openai-model-list"),
    path("models/<str:model>", openai_compat.OpenAIModelDetailView.as_view(), name="openai-model-detail"),
    path(
        "chat/completions", openai_compat.ChatCompletionsView.as_async_view(), name="openai-chat-completions"
    ),
]
