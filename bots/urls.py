"""Dashboard routes for bots and the builder (mounted at /app/ in the "dashboard" namespace by
config/urls.py, beside those of ``bots.chat.urls``, ``bots.widget.urls`` and ``bots.regression.urls``).

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
    path("bots/<uuid:pk>/rotate-key/", views.BotRotateKeyView.as_view(), name="bot_rotate_key"),
    path("bots/<uuid:pk>/delete/", views.BotDeleteView.as_view(), name="bot_delete"),
]
