"""Which files a folder expands to, and how their names are shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from meshguard.loader import iter_yaml_paths


def test_folder_walk_skips_dotfiles_and_dot_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "k8s").mkdir()
    (tmp_path / "k8s" / "a.yaml").write_text("x: 1\n")
    (tmp_path / "b.yml").write_text("x: 1\n")
    (tmp_path / ".meshguard.yaml").write_text("fail_on: error\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.yaml").write_text("x: 1\n")
    (tmp_path / "notes.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert list(iter_yaml_paths(["."])) == ["b.yml", "k8s/a.yaml"]  # no "./" prefix
    assert list(iter_yaml_paths([".meshguard.yaml"])) == [".meshguard.yaml"]  # named: read
