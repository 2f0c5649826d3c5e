"""The deployment files say what the platform promises: the same processes as `make run`, configured
only through environment variables, on a PostgreSQL where Row-Level Security binds the application.

Docker is not needed (nor a database): docker-compose.yml, platform/Dockerfile and
platform/postgres-init.sql are read and checked as data. Compose's variable interpolation is
reproduced in a few lines so the checks see what a container would actually receive.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "platform" / "Dockerfile"
POSTGRES_INIT_SQL = ROOT / "platform" / "postgres-init.sql"
DOCKERIGNORE = ROOT / ".dockerignore"
# Where the development launcher spells out its processes (either may hold them).
LOCAL_LAUNCHERS = (ROOT / "Makefile", ROOT / "tenants" / "management" / "commands" / "run_platform.py")

# The process contract: every way of running Groundwork runs exactly these.
PROCESS_COMMANDS = {
    "web": "uvicorn config.asgi:application --host 0.0.0.0 --port 8000 --no-proxy-headers",
    "worker": "celery -A config worker --loglevel=INFO",
    "beat": "celery -A config beat --loglevel=INFO",
    "migrate": "python manage.py migrate --noinput",
}
APP_SERVICES = tuple(PROCESS_COMMANDS)
APP_ROLE = "groundwork"
APP_DATABASE = "groundwork"
# What an operator puts in .env: the only variables compose requires.
REQUIRED_SECRETS = {
    "SECRET_KEY": "s3cret-key-for-tests",
    "POSTGRES_PASSWORD": "superuser-password",
    "GROUNDWORK_DB_PASSWORD": "app-role-password",
    "FIELD_ENCRYPTION_KEYS": "a-fernet-key-for-tests",
}


# --- reading the files --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def database_service_name(services: dict[str, Any]) -> str:
    names = [name for name in ("postgres", "db") if name in services]
    assert names, "docker-compose.yml has no postgres (or db) service"
    return names[0]


def _command_text(command: str | list[str]) -> str:
    """A compose or Dockerfile command, list or string form, as one normalised string."""
    words = shlex.split(command) if isinstance(command, str) else [str(word) for word in command]
    return " ".join(words)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def _init_sql_statements() -> list[str]:
    """SQL statements of the init script, without comments or psql meta-commands, whitespace collapsed."""
    text = re.sub(r"--[^\n]*|^\s*\\[^\n]*", "", POSTGRES_INIT_SQL.read_text(), flags=re.MULTILINE)
    return [" ".join(statement.split()) for statement in text.split(";") if statement.strip()]


# --- compose's variable interpolation ---------------------------------------------------------------


class MissingVariableError(Exception):
    """A `${NAME:?message}` variable is unset: compose would refuse to start."""


_NAME = r"[A-Za-z_][A-Za-z0-9_]*"


def _interpolate(text: str, environ: dict[str, str]) -> str:
    """Compose's substitution: $$, $NAME, ${NAME}, ${NAME:-default} (nested), ${NAME-default},
    ${NAME:?error}, ${NAME?error}."""
    output: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            output.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _closing_brace(text, index + 2)
            output.append(_substitute(text[index + 2 : end], environ))
            index = end + 1
        elif match := re.match(r"\$(" + _NAME + ")", text[index:]):
            output.append(environ.get(match.group(1), ""))
            index += match.end()
        else:
            output.append(text[index])
            index += 1
    return "".join(output)


def _closing_brace(text: str, start: int) -> int:
    depth, index = 1, start
    while index < len(text):
        if text.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise AssertionError(f"unclosed ${{ in {text!r}")


def _substitute(expression: str, environ: dict[str, str]) -> str:
    match = re.fullmatch(r"(" + _NAME + r")(?:(:?[-?])(.*))?", expression, re.DOTALL)
    assert match, f"unsupported interpolation ${{{expression}}}"
    name, operator, argument = match.groups()
    value = environ.get(name)
    if operator is None:
        return value or ""
    unset = value is None or (operator.startswith(":") and value == "")
    if operator.endswith("-"):
        return _interpolate(argument, environ) if unset else str(value)
    if unset:
        raise MissingVariableError(f"{name}: {argument}")
    return str(value)


def _environment(service: dict[str, Any], environ: dict[str, str]) -> dict[str, str]:
    """A service's container environment as compose would pass it, given the operator's variables."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) for item in raw)
    return {key: _interpolate("" if value is None else str(value), environ) for key, value in raw.items()}


# --- compose: structure -----------------------------------------------------------------------------


def test_compose_file_is_yaml_without_tabs(compose: dict[str, Any]) -> None:
    assert "\t" not in COMPOSE_FILE.read_text()
    assert isinstance(compose.get("services"), dict)


def test_compose_defines_every_service(services: dict[str, Any], database_service_name: str) -> None:
    assert {database_service_name, "redis", *APP_SERVICES} <= set(services)


def test_app_services_run_one_image_built_from_platform_dockerfile(services: dict[str, Any]) -> None:
    images = set()
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name} must build the image"
        assert build.get("context") == "."
        assert build.get("dockerfile") == "platform/Dockerfile"
        images.add(services[name].get("image"))
    assert len(images) == 1, f"web, worker, beat and migrate must share one image, got {images}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_runs_its_process_command(services: dict[str, Any], name: str) -> None:
    assert _command_text(services[name]["command"]) == PROCESS_COMMANDS[name]


def test_migrations_run_once_before_the_long_running_processes(
    services: dict[str, Any], database_service_name: str
) -> None:
    migrate = services["migrate"]
    assert migrate.get("restart") == "no", "a one-shot service must not be restarted after it exits"
    assert migrate["depends_on"][database_service_name]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on[database_service_name]["condition"] == "service_healthy", name
        assert depends_on["redis"]["condition"] == "service_healthy", name


def test_services_have_health_checks(services: dict[str, Any], database_service_name: str) -> None:
    def check(name: str) -> str:
        return _command_text(services[name]["healthcheck"]["test"])

    assert "pg_isready" in check(database_service_name)
    assert "redis-cli ping" in check("redis")
    assert "http://localhost:8000/healthz" in check("web")


def test_redis_keeps_an_append_only_file(services: dict[str, Any]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    assert "--appendonly yes" in _command_text(redis["command"])


def test_only_the_web_server_is_published(services: dict[str, Any]) -> None:
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"web"}


# --- compose: configuration through the environment -----------------------------------------------


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_gets_its_configuration_from_the_environment(
    services: dict[str, Any], database_service_name: str, name: str
) -> None:
    raw = services[name]["environment"]
    assert isinstance(raw, dict)
    for variable in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY"):
        assert variable in raw, f"{name} lacks {variable}"
    # The secret is required, never defaulted into the file.
    assert str(raw["SECRET_KEY"]).startswith("${SECRET_KEY:?")
    assert str(raw["FIELD_ENCRYPTION_KEYS"]).startswith("${FIELD_ENCRYPTION_KEYS:?")

    # Even an operator's DEBUG=true in the shell must not reach production.
    environment = _environment(services[name], {**REQUIRED_SECRETS, "DEBUG": "true"})
    assert environment["DEBUG"].lower() == "false"
    assert environment["SECRET_KEY"] == REQUIRED_SECRETS["SECRET_KEY"]

    database = urlsplit(environment["DATABASE_URL"])
    assert database.scheme in {"postgres", "postgresql"}
    assert (database.username, database.password) == (APP_ROLE, REQUIRED_SECRETS["GROUNDWORK_DB_PASSWORD"])
    assert database.hostname == database_service_name
    assert database.path == f"/{APP_DATABASE}"
    redis = urlsplit(environment["REDIS_URL"])
    assert (redis.scheme, redis.hostname) == ("redis", "redis")


@pytest.mark.parametrize("missing", sorted(REQUIRED_SECRETS))
def test_compose_refuses_to_start_without_a_required_secret(
    services: dict[str, Any], database_service_name: str, missing: str
) -> None:
    environ = {key: value for key, value in REQUIRED_SECRETS.items() if key != missing}
    refusals = []
    for name in (database_service_name, *APP_SERVICES):
        try:
            _environment(services[name], environ)
        except MissingVariableError as error:
            refusals.append(str(error))
    assert refusals, f"every service would start without {missing}"
    assert all(refusal.startswith(f"{missing}:") for refusal in refusals)


def test_app_services_share_one_environment(services: dict[str, Any]) -> None:
    environments = [_environment(services[name], REQUIRED_SECRETS) for name in APP_SERVICES]
    shared = set(environments[0]).intersection(*environments[1:])
    for variable in shared:
        assert len({environment[variable] for environment in environments}) == 1, variable


def test_optional_settings_default_like_the_settings_module(services: dict[str, Any]) -> None:
    environment = _environment(services["web"], REQUIRED_SECRETS)
    # An empty SECURE_COOKIES would read as "false" and override the HTTPS-derived default.
    assert environment["SECURE_COOKIES"] == environment["HTTPS"] == "false"
    assert _environment(services["web"], {**REQUIRED_SECRETS, "HTTPS": "true"})["SECURE_COOKIES"] == "true"
    # The container's own health check calls http://localhost:8000.
    hosts = _environment(services["web"], {**REQUIRED_SECRETS, "ALLOWED_HOSTS": "chat.example.com"})
    assert hosts["ALLOWED_HOSTS"].split(",") == ["chat.example.com", "localhost"]


# --- the database ---------------------------------------------------------------------------------


def test_database_is_pgvector_initialised_by_the_init_script(
    services: dict[str, Any], database_service_name: str
) -> None:
    database = services[database_service_name]
    assert database["image"].startswith("pgvector/pgvector:")
    mounts = [str(volume) for volume in database.get("volumes", [])]
    assert any(
        mount.startswith("./platform/postgres-init.sql:/docker-entrypoint-initdb.d/") for mount in mounts
    ), mounts


def test_application_role_is_subject_to_row_level_security() -> None:
    statements = _init_sql_statements()
    role = [
        statement
        for statement in statements
        if statement.upper().startswith(f"CREATE ROLE {APP_ROLE.upper()}")
    ]
    assert len(role) == 1, "the init script must create the application role exactly once"
    options = set(role[0].upper().split())
    assert {"LOGIN", "NOSUPERUSER", "NOBYPASSRLS", "NOCREATEROLE"} <= options
    assert not {"SUPERUSER", "BYPASSRLS", "CREATEROLE"} & options
    assert f"CREATE DATABASE {APP_DATABASE} OWNER {APP_ROLE}" in statements
    assert "CREATE EXTENSION IF NOT EXISTS vector" in statements
    # The password comes from the environment, never from the file.
    assert "\\getenv" in POSTGRES_INIT_SQL.read_text()
    assert re.search(r"PASSWORD\s+'", POSTGRES_INIT_SQL.read_text(), re.IGNORECASE) is None


# --- the image ------------------------------------------------------------------------------------


def test_dockerfile_builds_a_small_non_root_image_with_collected_static_files() -> None:
    instructions = _dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    arguments = dict(instructions)  # the last occurrence of each instruction, the one that counts

    assert arguments["FROM"].startswith("python:3.11-slim")
    runs = [argument for keyword, argument in instructions if keyword == "RUN"]
    copies = [argument for keyword, argument in instructions if keyword == "COPY"]
    # Dependencies are installed from pyproject.toml alone, before the code is copied (layer caching).
    install = next(index for index, run in enumerate(runs) if "pip install --group app" in run)
    assert "pip install --upgrade" in runs[install]
    assert copies[0].split()[0] == "pyproject.toml"
    assert instructions.index(("RUN", runs[install])) < instructions.index(("COPY", ". ."))
    collectstatic = [run for run in runs if "manage.py collectstatic --noinput" in run]
    assert len(collectstatic) == 1
    # Dummy URLs for this one command, or importing settings would start the embedded servers.
    assert "DATABASE_URL=" in collectstatic[0]
    assert "REDIS_URL=" in collectstatic[0]

    user = [argument for keyword, argument in instructions if keyword == "USER"]
    assert user, "the image must not run as root"
    assert user[-1].split(":")[0] not in {"root", "0"}
    assert keywords.index("USER") > max(index for index, keyword in enumerate(keywords) if keyword == "RUN")
    assert "8000" in arguments["EXPOSE"].split()
    assert _command_text(json.loads(arguments["CMD"])) == PROCESS_COMMANDS["web"]
    # Nothing ever turns platform/ into a Python package, in the image either.
    assert not any("__init__.py" in argument for _, argument in instructions)


def test_platform_directory_holds_no_python() -> None:
    # A `platform` package at the root shadows the standard library's `platform` module.
    assert not (ROOT / "platform" / "__init__.py").exists()
    assert sorted(path.name for path in (ROOT / "platform").glob("*.py")) == []


def test_build_context_leaves_out_secrets_and_local_state() -> None:
    patterns = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip()}
    assert {".env", "var/", ".git/", ".venv/"} <= patterns


# --- agreement with the development launcher ------------------------------------------------------


def test_local_launcher_runs_the_same_web_and_worker_processes() -> None:
    launchers = [path for path in LOCAL_LAUNCHERS if path.exists()]
    assert launchers, "neither the Makefile nor run_platform.py exists"
    text = "\n".join(path.read_text() for path in launchers)
    assert "config.asgi:application" in text
    # Either a shell line (`celery -A config worker`) or an argument list (["-A", "config", "worker"]).
    separator = r"""[\s"',=]+"""
    assert re.search(rf"(?:-A|--app){separator}config{separator}worker", text), "no `celery -A config worker`"
