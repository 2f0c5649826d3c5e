from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import URLPattern, URLResolver, include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from bots.chat.urls import urlpatterns as chat_pages
from bots.regression.urls import urlpatterns as regression_pages
from bots.urls import urlpatterns as bot_pages
from bots.widget.api import widget_script
from bots.widget.urls import urlpatterns as widget_pages
from config.health import health
from knowledge.urls import urlpatterns as knowledge_pages
from providers.urls import urlpatterns as provider_pages
from tenants.urls import account_urlpatterns
from tenants.urls import urlpatterns as tenant_pages

# The dashboard is one "dashboard" namespace assembled from every app's pages, so templates and views
# reverse "dashboard:<page>" whichever app serves it.
dashboard_pages: list[URLPattern | URLResolver] = [
    *tenant_pages,
    *provider_pages,
    *knowledge_pages,
    *bot_pages,
    *chat_pages,
    *widget_pages,
    *regression_pages,
]

api_v1: list[URLPattern | URLResolver] = [
    path("", include("tenants.api_urls")),
    path("", include("providers.api_urls")),
    path("", include("knowledge.api_urls")),
    path("", include("bots.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script from its own URL (?script), not inline, so the
    # docs run under the dashboard's strict Content-Security-Policy.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # ReDoc renders with styled-components, which writes <style> elements, and builds its search worker
    # from a blob: URL: this page alone allows inline styles and blob: workers (scripts stay 'self').
    path(
        "redoc/",
        csp_update({"style-src": [UNSAFE_INLINE], "worker-src": [SELF, "blob:"]})(
            SpectacularRedocView.as_view(url_name="schema")
        ),
        name="api-redoc",
    ),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard:home", permanent=False)),
    path("healthz", health, name="health"),
    path("app/", include(account_urlpatterns)),
    path("app/", include((dashboard_pages, "dashboard"))),
    path("api/v1/", include(api_v1)),
    # The widget: its loader at a URL that never changes (it is in tenants' page source), and its API.
    path("widget.js", widget_script, name="widget_script"),
    path("public/v1/", include(("bots.widget.public_urls", "public"))),
]

handler400 = "core.problems.handler400"
handler403 = "core.problems.handler403"
handler404 = "core.problems.handler404"
handler500 = "core.problems.handler500"
