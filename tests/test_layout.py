"""Imports run one way (README, the code map): the web app and the workers both use the
store and the wire contract, never each other; workers use only the web app's models
and settings; the contract and the store import no web helpers; benchmarks no commands."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR


def imports(path: Path) -> list[str]:
    """Every module `path` imports, anywhere in it (functions too)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def modules(*roots: str) -> list[Path]:
    return [path for root in roots for path in
            ((PROJECT_DIR / root).rglob("*.py") if (PROJECT_DIR / root).is_dir() else [PROJECT_DIR / root])
            if "migrations" not in path.parts]


def offenders(roots: tuple[str, ...], forbidden) -> list[str]:
    return [f"{path.relative_to(PROJECT_DIR)} imports {name}"
            for path in modules(*roots) for name in imports(path) if forbidden(name)]


def under(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


@pytest.mark.parametrize(("roots", "forbidden", "rule"), [
    (("trademonitor",), lambda name: under(name, "workers"), "the web app never imports the workers"),
    (("workers",), lambda name: under(name, "trademonitor") and name != "trademonitor.models",
     "workers use only the web app's models (and settings through django.conf)"),
    (("contract.py",), lambda name: under(name, "trademonitor", "workers", "clickhouse", "django", "infra"),
     "the contract imports nothing of the project"),
    (("clickhouse",), lambda name: under(name, "django", "trademonitor", "workers") and name != "django.conf",
     "the store imports no web helpers, nor the web app or the workers"),
    (("infra",), lambda name: under(name, "trademonitor", "workers", "clickhouse"), "infrastructure sits below all"),
    (("trademonitor/hub.py", "trademonitor/live.py", "trademonitor/api.py"),
     lambda name: name == "trademonitor.consumers",
     "the hub and what it serves know a client by hub.Client, not by the socket's consumer"),
    (("benchmarks", "harness"), lambda name: ".management" in name, "no benchmark imports a management command"),
    (("tests",), lambda name: under(name, "tests") and name.rsplit(".", 1)[-1].startswith("test_"),
     "no test module imports another"),
])
def test_imports_run_one_way(roots, forbidden, rule):
    assert offenders(roots, forbidden) == [], rule
