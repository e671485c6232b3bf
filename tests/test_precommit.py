"""The pre-commit hook, run by the real pre-commit against a copy of this working tree.

`pre-commit try-repo` needs a git repository and installs it at a commit, so the files that
make the package (uncommitted ones included) are copied into a fresh repository first.
pre-commit then builds the hook's environment (pip install from the package index) once,
under a PRE_COMMIT_HOME inside tmp_path.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
PACKAGE_FILES = ("pyproject.toml", "README.md", "LICENSE", ".pre-commit-hooks.yaml")
PACKAGE_DIRS = ("meshguard", "rules", "schemas")
GOOD = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
BAD = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n"

pytestmark = [
    pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
    pytest.mark.skipif(
        importlib.util.find_spec("pre_commit") is None,
        reason="pre-commit (the `test` extra) is not installed; pip install -e .[test]",
    ),
]


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"GITHUB_ACTIONS", "PYTHONPATH", "PRE_COMMIT_COLOR"}
    }
    env.update(
        PRE_COMMIT_HOME=str(home),
        PRE_COMMIT_COLOR="never",
        GIT_AUTHOR_NAME="meshguard tests",
        GIT_AUTHOR_EMAIL="tests@example.invalid",
        GIT_COMMITTER_NAME="meshguard tests",
        GIT_COMMITTER_EMAIL="tests@example.invalid",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def _run(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _git(cwd: Path, env: dict[str, str], *args: str) -> None:
    proc = _run(["git", *args], cwd, env, timeout=120)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"


def _commit_all(cwd: Path, env: dict[str, str], message: str) -> None:
    _git(cwd, env, "add", "--all")
    _git(cwd, env, "commit", "--quiet", "--no-verify", "-m", message)


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A git repository holding a copy of the package as it is in the working tree now."""
    root = tmp_path_factory.mktemp("precommit")
    env = _env(root / "pre-commit-home")
    src = root / "src"
    src.mkdir()
    for name in PACKAGE_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    for name in PACKAGE_DIRS:
        shutil.copytree(
            REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    _git(src, env, "init", "--quiet")
    _commit_all(src, env, "meshguard under test")
    return src, env


def _project(root: Path, env: dict[str, str], files: dict[str, str]) -> Path:
    work = root / "project"
    work.mkdir()
    _git(work, env, "init", "--quiet")
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text, encoding="utf-8")
    _commit_all(work, env, "manifests")
    return work


def _try_repo(
    work: Path, src: Path, env: dict[str, str], *hook: str
) -> subprocess.CompletedProcess[str]:
    return _run(
        [sys.executable, "-m", "pre_commit", "try-repo", str(src), *hook, "--all-files"], work, env
    )


def test_manifest_is_valid_for_pre_commit(tmp_path: Path) -> None:
    proc = _run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "validate-manifest",
            str(REPO / ".pre-commit-hooks.yaml"),
        ],
        tmp_path,
        _env(tmp_path / "home"),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifest_declares_the_lint_hooks() -> None:
    hooks = {
        h["id"]: h
        for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    }
    assert {"meshguard", "meshguard-lint", "meshguard-fix"} <= set(hooks)
    for hook_id in ("meshguard", "meshguard-lint", "meshguard-fix"):
        hook = hooks[hook_id]
        command = "fix" if hook_id == "meshguard-fix" else "lint"
        assert hook["entry"] == f"meshguard {command}"
        assert hook["language"] == "python"
        assert hook["types"] == ["yaml"]
        assert hook["require_serial"] is True


def test_hook_fails_on_a_broken_manifest_and_passes_without_it(
    hook_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    src, env = hook_repo
    work = _project(tmp_path, env, {"k8s/bad.yaml": BAD, "k8s/good.yaml": GOOD, "notes.txt": BAD})

    failed = _try_repo(work, src, env, "meshguard")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "meshguard" in output and "Failed" in output
    assert "k8s/bad.yaml" in output
    assert "4:1" in output and "MG000" in output and "YAML does not parse" in output
    assert "notes.txt" not in output  # types: [yaml]

    (work / "k8s" / "bad.yaml").unlink()
    _commit_all(work, env, "drop the broken manifest")
    passed = _try_repo(work, src, env)  # every hook: meshguard, meshguard-lint, meshguard-fix
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert output.count("Passed") == 3, output
    assert "MG000" not in output


FIXABLE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat, namespace: web}   # comment kept
spec:
  http:
  - retries: {attempts: 1, retryOn: "connect-failure, refused-stream"}
"""


def test_fix_hook_rewrites_then_passes(
    hook_repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Like a formatter: the first run rewrites the file and fails, the next one passes."""
    src, env = hook_repo
    work = _project(tmp_path, env, {"k8s/route.yaml": FIXABLE})

    first = _try_repo(work, src, env, "meshguard-fix")
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "files were modified by this hook" in output
    fixed = (work / "k8s" / "route.yaml").read_text(encoding="utf-8")
    assert fixed == FIXABLE.replace("failure, refused", "failure,refused")

    second = _try_repo(work, src, env, "meshguard-fix")
    assert second.returncode == 0, second.stdout + second.stderr
