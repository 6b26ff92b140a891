"""Fixtures that fetch helm (through .ci/get-helm) and render the chart with it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.helm import (
    KUBE_VERSION,
    REPO_ROOT,
    Helm,
)


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> Helm:
    """The pinned helm binary, fetched on first use, with its state in a throw-away home."""
    fetched = subprocess.run(
        ["bash", str(REPO_ROOT / ".ci" / "get-helm")], capture_output=True, text=True, timeout=300
    )
    if fetched.returncode != 0:
        pytest.fail(f".ci/get-helm failed:\n{fetched.stderr}")
    home = tmp_path_factory.mktemp("helm-home")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    return Helm(binary=fetched.stdout.strip().splitlines()[-1], env=env)


@pytest.fixture(scope="session")
def kubernetes_validate() -> list[str]:
    """Command line of kubernetes-validate from the interpreter's environment."""
    script = Path(sys.executable).parent / "kubernetes-validate"
    if not script.exists():
        pytest.fail(f"{script} is missing: run `uv sync --frozen` (it is a dev dependency)")
    return [str(script), "--strict", "--kubernetes-version", KUBE_VERSION, "--quiet", "-"]
