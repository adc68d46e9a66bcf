"""The floors of the house: engines, tasks, web app and sandbox import in one direction."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

from jobs import TASK_MODULES

ROOT = Path(__file__).resolve().parent.parent

# Imports that stay inside functions, and why; any other in-function import in
# webapp/ or jobs/ is a cycle being dodged and fails this test.
LAZY_FOR_A_REASON = {
    "helm_python": "Helm's Go runtime must not load before RQ forks a work-horse",
    "docker": "the optional Docker engine's SDK costs start-up time no one else needs",
    "jobs.oci.docker_engine": "the same, for `flask images copy --engine docker`",
}


def test_import_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "3 kept, 0 broken" in result.stdout


def test_the_task_list_is_every_task_module():
    on_disk = {
        f"jobs.{path.stem}"
        for path in (ROOT / "jobs").glob("*.py")
        if path.stem not in ("__init__", "runtime")
    }
    assert set(TASK_MODULES) == on_disk
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for contract in contracts["contracts"][:2]:
        assert set(TASK_MODULES) | {"jobs.runtime"} <= set(contract["forbidden_modules"])


def test_no_in_function_import_dodges_a_cycle():
    dodges = []
    for path in sorted([*(ROOT / "webapp").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom) and node.col_offset > 0:
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if module.split(".")[0] not in LAZY_FOR_A_REASON and module not in (
                    LAZY_FOR_A_REASON
                ):
                    dodges.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {module}")
    assert not dodges, "\n".join(dodges)
