"""Fixtures that fetch helm (through .ci/get-helm) and render the chart with it."""

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]


CHART = REPO_ROOT / "helm" / "gatehouse"


VALUES_DIR = REPO_ROOT / "tests" / "helm" / "values"


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
