"""Fixtures that fetch helm (through .ci/get-helm) and render the chart with it."""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART = REPO_ROOT / "helm" / "gatehouse"
VALUES_DIR = Path(__file__).resolve().parent / "values"
REQUIRED_VALUES = VALUES_DIR / "required.yaml"
KUBE_VERSION = "1.33.0"
RELEASE = "gh"
NAMESPACE = "auth"


@dataclass(frozen=True)
class Helm:
    binary: str
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        if check and result.returncode != 0:
            pytest.fail(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return result

    def template_args(self, values_files=(), sets=(), required=True) -> list[str]:
        args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
        args += ["--kube-version", KUBE_VERSION]
        files = [REQUIRED_VALUES, *values_files] if required else list(values_files)
        for path in files:
            args += ["--values", str(path)]
        for assignment in sets:
            args += ["--set", assignment]
        return args

    def template(self, values_files=(), sets=(), required=True) -> str:
        return self.run(*self.template_args(values_files, sets, required)).stdout

    def template_error(self, values_files=(), sets=(), required=True) -> str:
        result = self.run(*self.template_args(values_files, sets, required), check=False)
        assert result.returncode != 0, "helm template accepted values it should reject"
        return result.stderr

    def objects(self, values_files=(), sets=(), required=True) -> list[dict]:
        manifest = self.template(values_files, sets, required)
        return [doc for doc in yaml.safe_load_all(manifest) if doc]


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
