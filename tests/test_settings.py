"""Settings come from the environment; a real deployment must bring its own secrets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.processes import ROOT

EXTERNAL = {
    "DATABASE_URL": "postgresql://app@db.example.internal/app",
    "REDIS_URL": "redis://cache.example.internal/0",
}


def check(var_dir: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS")}
    env.update(EXTERNAL, GROUNDWORK_VAR_DIR=str(var_dir), **overrides)  # a machine with no dev secrets
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; from django.conf import settings; "
            "django.setup(); print(len(settings.FIELD_ENCRYPTION_KEYS))",
        ],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_external_services_require_secrets_from_the_environment(missing: str, tmp_path: Path) -> None:
    secrets = {"SECRET_KEY": "x" * 50, "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    secrets.pop(missing)
    result = check(tmp_path, **secrets)
    assert result.returncode != 0
    assert f"Set {missing}" in result.stderr


def test_with_every_secret_set_settings_load_and_generate_nothing(tmp_path: Path) -> None:
    keys = f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}"
    result = check(tmp_path, SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS=keys)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2"
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "field_encryption_key").exists()
