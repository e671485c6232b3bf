"""Start-up stays light: pre-commit runs `meshguard lint` on every commit (DESIGN.md, Start-up).

Each test runs a fresh interpreter, since this process has imported everything already.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
HEAVY = ("flask", "kubernetes", "cryptography", "prometheus_client")
LINT_ONLY = (*HEAVY, "jsonschema", "ruamel")  # jsonschema only to validate a configuration file

PROBE = """\
import sys
from meshguard.cli import main
rc = main(sys.argv[2:])
watched = set(sys.argv[1].split(","))
print("IMPORTED", rc, sorted(m for m in sys.modules if m.split(".")[0] in watched))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GITHUB_ACTIONS", "NO_COLOR"}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def imported_by(cwd: Path, watched: tuple[str, ...], *argv: str, rc: int = 0) -> list[str]:
    """Modules of `watched` packages loaded by `main(argv)` in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(watched), *argv],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(line for line in proc.stdout.splitlines() if line.startswith("IMPORTED "))
    status, modules = line.removeprefix("IMPORTED ").split(" ", 1)
    assert int(status) == rc, proc.stdout
    return list(ast.literal_eval(modules))


@pytest.mark.parametrize("fmt", ["text", "parsable", "json", "sarif", "github"])
def test_lint_without_config_imports_nothing_heavy(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "ns.yaml").write_text(NAMESPACE, encoding="utf-8")
    assert imported_by(tmp_path, LINT_ONLY, "lint", "--format", fmt, "ns.yaml") == []


def test_lint_of_a_broken_file_imports_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("a: [1\n", encoding="utf-8")
    assert imported_by(tmp_path, LINT_ONLY, "lint", "bad.yaml", rc=1) == []


def test_lint_with_a_config_file_imports_jsonschema_only(tmp_path: Path) -> None:
    (tmp_path / ".meshguard.yaml").write_text("fail_on: error\n", encoding="utf-8")
    (tmp_path / "ns.yaml").write_text(NAMESPACE, encoding="utf-8")
    imported = imported_by(tmp_path, LINT_ONLY, "lint", "ns.yaml")
    assert "jsonschema" in imported  # meshguard.config validates the file against its schema
    assert not [m for m in imported if m.split(".")[0] in HEAVY]


@pytest.mark.parametrize("argv", [["rules"], ["explain", "MG000"]])
def test_rules_and_explain_import_nothing_heavy(tmp_path: Path, argv: list[str]) -> None:
    assert imported_by(tmp_path, LINT_ONLY, *argv) == []


def test_python_dash_m_meshguard_lints_a_clean_file(tmp_path: Path) -> None:
    (tmp_path / "ns.yaml").write_text(NAMESPACE, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "meshguard", "lint", "ns.yaml"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout == "no problems in 1 resource in 1 file\n"


def test_python_dash_m_meshguard_reports_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "meshguard", "lint", "--format", "parsable", "bad.yaml"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("bad.yaml:4:1: MG000 error: ")


def test_closed_stdout_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    """`meshguard lint . | head -1`: the reader goes away; no BrokenPipeError traceback."""
    for i in range(300):
        (tmp_path / f"bad{i:03}.yaml").write_text("a: [1\n", encoding="utf-8")
    proc = subprocess.run(
        f"{sys.executable} -m meshguard lint --format parsable . | head -n 1",
        shell=True,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.stdout.startswith("bad000.yaml:2:1: MG000")
    assert "Traceback" not in proc.stderr
