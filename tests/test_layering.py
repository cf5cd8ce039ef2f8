"""Imports point one way: services -> {feature_store, models, rules} -> contracts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("contracts", "feature_store", "models", "rules", "services")
ALLOWED = {
    "contracts": set(),
    "feature_store": {"contracts"},
    "models": {"contracts"},
    "rules": {"contracts"},
    "services": {"contracts", "feature_store", "models", "rules"},
}


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    offenders = {
        str(f.relative_to(ROOT)): sorted(bad)
        for f in files
        if (bad := _imported_packages(f) - ALLOWED[package] - {package})
    }
    assert not offenders, f"{package} imports what it must not: {offenders}"
