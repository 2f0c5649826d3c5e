"""The suite's own layout rules, so that it stays easy to extend: shared code lives in fixtures
(conftest.py), factories (tests/<app>/factories.py) and helper modules, never in test modules, and
conftests are reached through the fixtures they define, never imported."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_modules(path: Path) -> Iterator[str]:
    """Every module ``path`` imports, absolute (``from . import x`` resolved against its package)."""
    package = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


def is_conftest(name: str) -> bool:
    return name.startswith("tests.") and name.endswith(".conftest")


def test_no_module_of_the_suite_imports_a_test_module_or_a_conftest() -> None:
    offenders = sorted(
        f"{path.relative_to(TESTS.parent)} imports {name}"
        for path in TESTS.rglob("*.py")
        for name in imported_modules(path)
        if is_test_module(name) or is_conftest(name)
    )
    assert offenders == [], "move what they share to a fixture, a factory or a helper module"


def test_the_rule_above_recognises_what_it_forbids() -> None:
    assert is_test_module("tests.bots.test_api") and not is_test_module("tests.bots.helpers")
    assert is_conftest("tests.conftest") and is_conftest("tests.e2e.conftest")
    assert not is_conftest("tests.bots.factories")
    assert not is_test_module("tests.stubs.openai_stub") and not is_test_module("tests")


def test_every_app_has_its_factories_and_its_conftest() -> None:
    for app in ("tenants", "providers", "knowledge", "bots", "bots/regression"):
        assert (TESTS / app / "factories.py").is_file(), app
    for package in (
        "tenants",
        "providers",
        "knowledge",
        "bots",
        "bots/chat",
        "bots/widget",
        "bots/regression",
        "security",
        "e2e",
    ):
        assert (TESTS / package / "conftest.py").is_file(), package
