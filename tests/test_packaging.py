"""The wheel works on its own: built from this tree, installed into a fresh virtual environment.

One build and one environment for the module. The wheel's dependencies come from the package
index (the environment is fresh on purpose: it proves they are declared).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from meshguard import __version__

REPO = Path(__file__).resolve().parent.parent
DATA_FILES = (
    "meshguard/_data/rules/MG000.yaml",
    "meshguard/_data/schemas/config.schema.json",
    "meshguard/_data/schemas/rule.schema.json",
)


@dataclass(frozen=True)
class Installed:
    wheel: Path
    names: frozenset[str]  # the wheel's file list
    venv: Path
    rule_ids_before_build: frozenset[str]

    @property
    def bin(self) -> Path:
        return self.venv / ("Scripts" if os.name == "nt" else "bin")

    def run(
        self, *argv: str, cwd: Path, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return _run([str(self.bin / argv[0]), *argv[1:]], cwd=cwd, stdin=stdin)


def _env() -> dict[str, str]:
    """No PYTHONPATH (the checkout must not leak in), no CI-dependent output format."""
    drop = {"PYTHONPATH", "PYTHONHOME", "GITHUB_ACTIONS", "NO_COLOR", "PIP_REQUIRE_VIRTUALENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def _run(
    argv: Sequence[str], cwd: Path, stdin: str | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    assert proc.returncode == 0, (
        f"{what} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )


def _build_wheel(out: Path) -> Path:
    if importlib.util.find_spec("build") and importlib.util.find_spec("hatchling"):
        # the `test` extra has both: no isolated build environment, no download
        argv = [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(out),
            str(REPO),
        ]
    else:
        argv = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--wheel-dir",
            str(out),
            str(REPO),
        ]
    _check(_run(argv, cwd=out), "building the wheel")
    (wheel,) = out.glob("meshguard-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    rule_ids = frozenset(p.stem for p in (REPO / "rules").glob("MG[0-9][0-9][0-9].yaml"))
    wheel = _build_wheel(tmp_path_factory.mktemp("dist"))
    with zipfile.ZipFile(wheel) as archive:
        names = frozenset(archive.namelist())
    venv = tmp_path_factory.mktemp("venv") / "env"
    _check(
        _run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent),
        "creating the virtual environment",
    )
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    _check(
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--quiet",
                str(wheel),
            ],
            cwd=venv.parent,
        ),
        "installing the wheel",
    )
    return Installed(wheel, names, venv, rule_ids)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A folder away from the checkout, without configuration."""
    return tmp_path


def test_wheel_name_carries_the_version(installed: Installed) -> None:
    assert installed.wheel.name == f"meshguard-{__version__}-py3-none-any.whl"


def test_wheel_ships_the_rule_pack_and_schemas(installed: Installed) -> None:
    for name in DATA_FILES:
        assert name in installed.names
    packed = {
        Path(n).stem
        for n in installed.names
        if n.startswith("meshguard/_data/rules/") and n.endswith(".yaml")
    }
    assert installed.rule_ids_before_build <= packed
    assert not [n for n in installed.names if n.startswith("tests/")]


def test_wheel_declares_the_console_script(installed: Installed) -> None:
    with zipfile.ZipFile(installed.wheel) as archive:
        entry_points = archive.read(f"meshguard-{__version__}.dist-info/entry_points.txt").decode()
    assert "meshguard = meshguard.cli:main" in entry_points


def test_installed_package_reads_its_own_data(installed: Installed, workdir: Path) -> None:
    proc = installed.run(
        "python",
        "-c",
        "import meshguard, meshguard.resources as r\n"
        "print(meshguard.__file__)\nprint(r.data_dir('rules'))",
        cwd=workdir,
    )
    _check(proc, "importing meshguard")
    module_file, rules_dir = proc.stdout.splitlines()
    venv = installed.venv.resolve()
    assert Path(module_file).resolve().is_relative_to(venv)
    assert Path(rules_dir).resolve().is_relative_to(venv) and Path(rules_dir).name == "rules"
    assert Path(rules_dir).parent.name == "_data"


def test_version(installed: Installed, workdir: Path) -> None:
    proc = installed.run("meshguard", "--version", cwd=workdir)
    _check(proc, "meshguard --version")
    assert proc.stdout.strip() == f"meshguard {__version__}"


def test_rules_lists_every_packaged_rule(installed: Installed, workdir: Path) -> None:
    proc = installed.run("meshguard", "rules", cwd=workdir)
    _check(proc, "meshguard rules")
    listed = [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]
    packed = sorted(
        Path(n).stem for n in installed.names if n.startswith("meshguard/_data/rules/MG")
    )
    assert listed == packed
    assert "MG000" in listed
    assert installed.rule_ids_before_build <= set(listed)


def test_rules_check_validates_against_the_packaged_schema(
    installed: Installed, workdir: Path
) -> None:
    proc = installed.run("meshguard", "rules", "--check", cwd=workdir)
    _check(proc, "meshguard rules --check")
    assert proc.stdout.rstrip().endswith("rule files valid")


def test_explain(installed: Installed, workdir: Path) -> None:
    proc = installed.run("meshguard", "explain", "MG000", cwd=workdir)
    _check(proc, "meshguard explain MG000")
    assert proc.stdout.startswith("MG000: Manifest does not parse")


def test_lint(installed: Installed, workdir: Path) -> None:
    (workdir / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n", encoding="utf-8"
    )
    (workdir / "bad.yaml").write_text(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n", encoding="utf-8"
    )
    clean = installed.run("meshguard", "lint", "ns.yaml", cwd=workdir)
    assert (clean.returncode, clean.stderr) == (0, ""), clean.stderr
    broken = installed.run("meshguard", "lint", "--format", "parsable", ".", cwd=workdir)
    assert broken.returncode == 1, broken.stderr
    assert broken.stdout.startswith("bad.yaml:4:1: MG000 error: ")


def test_lint_with_a_configuration_file(installed: Installed, workdir: Path) -> None:
    """The configuration schema is read from the wheel, and jsonschema is a declared dependency."""
    (workdir / ".meshguard.yaml").write_text("rules: {MG000: false}\n", encoding="utf-8")
    proc = installed.run("meshguard", "lint", "-", cwd=workdir, stdin="a: [1\n")
    assert (proc.returncode, proc.stderr) == (0, ""), proc.stderr
    (workdir / ".meshguard.yaml").write_text("rulez: {}\n", encoding="utf-8")
    proc = installed.run("meshguard", "lint", "-", cwd=workdir, stdin="a: 1\n")
    assert proc.returncode == 2 and "unknown key 'rulez'" in proc.stderr
