"""The layers point one way (README "Architecture"), and nothing dodges them.

The contract itself is import-linter's (pyproject.toml ``[tool.importlinter]``); these tests
run it and check what it cannot see: imports hidden inside functions, and a kernel contract
whose list of forbidden libraries has fallen behind the dependencies.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("platform", "tenants", "oauth", "workers")
#: Distributions the kernel may import: Django itself, and django-environ's URL parser.
KERNEL_MAY_IMPORT = {"django", "django-environ"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: \d+ kept, 0 broken", result.stdout), result.stdout


def test_the_contract_names_every_layer_in_order():
    contracts = {c["name"]: c for c in _pyproject()["tool"]["importlinter"]["contracts"]}
    layers = next(c for c in contracts.values() if c["type"] == "layers")
    assert layers["layers"] == ["gatehouse", "workers", "tenants", "oauth", "kernel"]


def _function_level_imports(path: Path) -> list[str]:
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                found.append(f"{path.relative_to(REPO)}:{child.lineno}")
            visit(child, nested)

    visit(ast.parse(path.read_text(), filename=str(path)), False)
    return found


def test_no_import_inside_a_function():
    """An import inside a function is how a cycle hides from the contract: none are left."""
    offenders = []
    for folder in PRODUCT:
        for path in sorted((REPO / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            offenders += _function_level_imports(path)
    assert offenders == []


def test_the_kernel_contract_forbids_every_other_dependency():
    """Adding a run-time dependency must also add it to the kernel's forbidden modules."""
    project = _pyproject()
    contract = next(
        c for c in project["tool"]["importlinter"]["contracts"] if c["type"] == "forbidden"
    )
    modules_of: dict[str, set[str]] = {}
    for module, distributions in packages_distributions().items():
        for distribution in distributions:
            modules_of.setdefault(distribution.lower().replace("_", "-"), set()).add(module)
    missing = []
    for requirement in project["project"]["dependencies"]:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        if name in KERNEL_MAY_IMPORT:
            continue
        public = {m for m in modules_of.get(name, set()) if not m.startswith("_")}
        assert public, f"{name} installs no importable module"
        missing += sorted(public - set(contract["forbidden_modules"]))
    assert missing == []
