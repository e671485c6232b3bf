"""`meshguard fix` in-process: flags, exit statuses, stdin, new documents, safe writes."""

from __future__ import annotations

import io
import os
import stat
import sys
from pathlib import Path

import pytest

import meshguard.fix
from meshguard.cli import main

# MG204 (unsafe: attempts 3 -> 2), MG203 (safe: the space-padded retryOn token) and MG601
# (info, no fix: the destination Service is not in the input)
ROUTE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: chat   # chat model
  namespace: web
spec:
  hosts: [chat.web.svc.cluster.local]
  http:
  - route:
    - destination: {host: chat.web.svc.cluster.local}
    timeout: 30s
    retries:
      attempts: 3
      perTryTimeout: 10s
      retryOn: "connect-failure, refused-stream"
"""
SAFE_FIXED = ROUTE.replace('"connect-failure, refused-stream"', '"connect-failure,refused-stream"')
ALL_FIXED = SAFE_FIXED.replace("attempts: 3", "attempts: 2")
CLEAN = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n"
BROKEN = "apiVersion: v1\nkind: Namespace\nmetadata: {name: web\n"  # MG000 at line 4
ML_NAMESPACE = (
    "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ml-serving\n"
    "  labels: {istio-injection: enabled}\n"
)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(["fix", "--no-config", *argv])
    out, err = capsys.readouterr()
    return rc, out, err


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


def test_default_applies_only_safe_fixes_in_place(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = write(tmp_path / "route.yaml", ROUTE)
    rc, out, err = cli(capsys, "route.yaml")
    assert (rc, out) == (1, "")
    assert target.read_text() == SAFE_FIXED
    assert err.splitlines()[-1] == (
        "meshguard: fixed 1 file with 1 fix (MG203 x1); "
        "2 findings left (1 fixable with --unsafe-fixes)"
    )


def test_unsafe_fixes_apply_both(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = write(tmp_path / "route.yaml", ROUTE)
    rc, _, err = cli(capsys, "--unsafe-fixes", "route.yaml")
    assert rc == 1
    assert target.read_text() == ALL_FIXED
    assert "2 fixes (MG203 x1, MG204 x1); 1 finding left\n" in err


def test_nothing_to_fix_exits_0_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = write(tmp_path / "ns.yaml", CLEAN)
    before = target.stat().st_mtime_ns
    rc, out, err = cli(capsys, "--unsafe-fixes", ".")
    assert (rc, out, err) == (0, "", "meshguard: nothing to fix; 0 findings left\n")
    assert target.stat().st_mtime_ns == before


def test_diff_prints_a_unified_diff_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = write(tmp_path / "route.yaml", ROUTE)
    rc, out, err = cli(capsys, "--diff", "--unsafe-fixes", "route.yaml")
    assert rc == 1
    assert target.read_text() == ROUTE
    assert out == (
        "--- route.yaml\n"
        "+++ route.yaml\n"
        "@@ -10,6 +10,6 @@\n"
        "     - destination: {host: chat.web.svc.cluster.local}\n"
        "     timeout: 30s\n"
        "     retries:\n"
        "-      attempts: 3\n"
        "+      attempts: 2\n"
        "       perTryTimeout: 10s\n"
        '-      retryOn: "connect-failure, refused-stream"\n'
        '+      retryOn: "connect-failure,refused-stream"\n'
    )
    assert "would fix 1 file" in err


def test_diff_marks_a_missing_final_newline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(
        tmp_path / "route.yaml",
        SAFE_FIXED.replace("attempts: 3", "attempts: 3  # x")
        .rstrip("\n")
        .replace('"connect-failure,refused-stream"', '"connect-failure, refused-stream"'),
    )
    rc, out, _ = cli(capsys, "--diff", "route.yaml")
    assert rc == 1
    assert out.endswith(
        '+      retryOn: "connect-failure,refused-stream"\n\\ No newline at end of file\n'
    )


def test_check_exits_1_on_changes_and_0_when_clean(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = write(tmp_path / "route.yaml", ROUTE)
    rc, out, _ = cli(capsys, "--check", "route.yaml")
    assert (rc, out) == (1, "")
    assert target.read_text() == ROUTE
    write(tmp_path / "route.yaml", SAFE_FIXED)
    assert cli(capsys, "--check", "route.yaml")[0] == 0  # the MG204 fix is unsafe: not applied
    assert cli(capsys, "--check", "--unsafe-fixes", "route.yaml")[0] == 1


def test_rule_limits_the_fixes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = write(tmp_path / "route.yaml", ROUTE)
    rc, _, err = cli(capsys, "--unsafe-fixes", "--rule", "mg204", "route.yaml")
    assert rc == 1
    assert target.read_text() == ROUTE.replace("attempts: 3", "attempts: 2")
    assert "(MG204 x1); 2 findings left" in err  # MG203 still reported, not fixed
    target.write_text(ROUTE)
    assert cli(capsys, "--unsafe-fixes", "--rule", "MG204", "--rule", "MG203", "route.yaml")[0] == 1
    assert target.read_text() == ALL_FIXED


def test_unknown_rule_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path / "route.yaml", ROUTE)
    rc, out, err = cli(capsys, "--rule", "MG999", "route.yaml")
    assert (rc, out) == (2, "")
    assert err == "meshguard: error: --rule: unknown rule id 'MG999'; see `meshguard rules`\n"


def test_stdin_writes_the_fixed_stream_to_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ROUTE.encode())))
    rc, out, err = cli(capsys, "--unsafe-fixes", "-")
    assert (rc, out) == (1, ALL_FIXED)
    assert "fixed 1 file" in err


def test_stdin_unchanged_is_echoed_with_exit_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CLEAN.encode())))
    assert cli(capsys, "-")[:2] == (0, CLEAN)


def test_stdin_check_prints_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(ROUTE.encode())))
    assert cli(capsys, "--check", "-")[:2] == (1, "")


def test_new_documents_go_to_the_namespace_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """MG605: the ReferenceGrant belongs to the backend's namespace; its Namespace is elsewhere."""
    ns = write(
        tmp_path / "namespaces.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-serving}\n",
    )
    svc = (
        "apiVersion: v1\nkind: Service\nmetadata: {name: iris, namespace: ml-serving}\n"
        "spec:\n  ports: [{port: 80}]\n"
    )
    write(tmp_path / "svc.yaml", svc)
    route = (
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n"
        "metadata: {name: iris, namespace: routes}\nspec:\n"
        "  rules:\n  - backendRefs: [{name: iris, namespace: ml-serving, port: 80}]\n"
    )
    routes = write(tmp_path / "route.yaml", route)
    rc, _, err = cli(capsys, "--unsafe-fixes", "--rule", "MG605", ".")
    assert rc == 1, err
    assert routes.read_text() == route
    added = ns.read_text()
    assert added.startswith("apiVersion: v1\nkind: Namespace\nmetadata: {name: ml-serving}\n---\n")
    assert (
        "kind: ReferenceGrant\nmetadata:\n  name: httproute-routes-iris\n  namespace: ml-serving\n"
        in added
    )


def test_new_docs_flag_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ns = write(tmp_path / "ns.yaml", ML_NAMESPACE)
    (tmp_path / "policies").mkdir()
    argv = ("--unsafe-fixes", "--rule", "MG101", "--new-docs", "policies/mtls.yaml", "ns.yaml")
    rc, _, err = cli(capsys, *argv)
    assert rc == 1, err
    assert ns.read_text() == ML_NAMESPACE
    created = tmp_path / "policies" / "mtls.yaml"
    assert created.read_text() == (
        "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: default\n"
        "  namespace: ml-serving\nspec:\n  mtls:\n    mode: STRICT\n"
    )
    assert stat.S_IMODE(created.stat().st_mode) == 0o666 & ~_umask()
    # the next run finds the policy in the --new-docs file and adds nothing
    assert cli(capsys, *argv)[0] == 0
    assert created.read_text().count("PeerAuthentication") == 1


def test_new_docs_in_a_missing_folder_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path / "ns.yaml", ML_NAMESPACE)
    rc, _, err = cli(capsys, "--unsafe-fixes", "--new-docs", "nope/mtls.yaml", "ns.yaml")
    assert rc == 2
    assert err == "meshguard: error: --new-docs nope/mtls.yaml: no such folder\n"


def test_added_documents_are_not_duplicated(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ns = write(tmp_path / "ns.yaml", ML_NAMESPACE)
    assert cli(capsys, "--unsafe-fixes", "ns.yaml")[0] == 1
    text = ns.read_text()
    assert (
        text.count("kind: PeerAuthentication") == 1 and text.count("kind: AuthorizationPolicy") == 1
    )
    assert cli(capsys, "--unsafe-fixes", "ns.yaml")[0] == 0


def test_symlinks_are_followed_not_replaced(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    real = write(tmp_path / "real" / "route.yaml", ROUTE)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert cli(capsys, "link.yaml")[0] == 1
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text() == SAFE_FIXED


def test_mode_is_kept(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = write(tmp_path / "route.yaml", ROUTE)
    target.chmod(0o640)
    assert cli(capsys, "route.yaml")[0] == 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["route.yaml"]  # no temporary file left


def test_crlf_and_bom_survive(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "route.yaml"
    target.write_bytes(b"\xef\xbb\xbf" + ROUTE.replace("\n", "\r\n").encode())
    assert cli(capsys, "route.yaml")[0] == 1
    assert target.read_bytes() == b"\xef\xbb\xbf" + SAFE_FIXED.replace("\n", "\r\n").encode()


def test_unparsable_file_is_reported_and_left_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = write(tmp_path / "broken.yaml", BROKEN)
    route = write(tmp_path / "route.yaml", ROUTE)
    rc, _, err = cli(capsys, "broken.yaml", "route.yaml")
    assert rc == 2
    assert broken.read_text() == BROKEN
    assert route.read_text() == SAFE_FIXED  # the other files are still fixed
    assert err.splitlines()[0].startswith("broken.yaml:4:1: MG000 error: YAML does not parse")
    assert err.splitlines()[0].endswith("(file left untouched)")


def test_a_failed_write_leaves_each_file_fully_old_or_fully_new(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write(tmp_path / "a.yaml", ROUTE)
    second = write(tmp_path / "b.yaml", ROUTE.replace("name: chat", "name: chat2"))
    real_replace = os.replace
    calls = []

    def flaky(src: str, dst: str) -> None:
        calls.append(dst)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    rc, out, err = cli(capsys, "a.yaml", "b.yaml")
    assert (rc, out) == (2, "")
    assert first.read_text() == SAFE_FIXED
    assert second.read_text() == ROUTE.replace("name: chat", "name: chat2")
    assert err == (
        "meshguard: error: b.yaml: cannot write: No space left on device; "
        "1 of 2 files rewritten, the others unchanged\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.yaml", "b.yaml"]  # temporaries removed


def test_verification_failure_is_one_line_and_leaves_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rewritten text must parse to what jsonpatch makes of the operations; here it does not."""
    target = write(tmp_path / "route.yaml", ROUTE)
    real_apply = meshguard.fix.apply_edits
    monkeypatch.setattr(
        meshguard.fix,
        "apply_edits",
        lambda text, edits: real_apply(text, edits).replace("30s", "31s"),
    )
    rc, out, err = cli(capsys, "route.yaml")
    assert (rc, out) == (2, "")
    assert target.read_text() == ROUTE
    first = err.splitlines()[0]
    assert first == (
        "meshguard: error: route.yaml: internal error: the rewritten text does not match the fix "
        "operations (jsonpatch); file left untouched (please report it)"
    )
    assert "Traceback" not in err


def test_explain_says_how_each_safety_applies(capsys: pytest.CaptureFixture[str]) -> None:
    for rule, text in (
        ("MG203", "Fix (safe: applied by `meshguard fix`)"),
        ("MG204", "Fix (unsafe: applied with --unsafe-fixes)"),
        ("MG000", "Fix (none)"),
    ):
        assert main(["explain", rule]) == 0
        assert text in capsys.readouterr().out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_suppressed_finding_is_not_fixed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = ROUTE.replace(
        'retryOn: "connect-failure, refused-stream"',
        'retryOn: "connect-failure, refused-stream"  # meshguard: ignore[MG203] kept on purpose',
    )
    target = write(tmp_path / "route.yaml", text)
    assert cli(capsys, "route.yaml")[0] == 0
    assert target.read_text() == text


def test_context_files_are_never_changed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--context resources resolve references (here: the namespace's STRICT policy exists)."""
    ns = write(tmp_path / "ns.yaml", ML_NAMESPACE)
    cluster = write(
        tmp_path / "cluster" / "policies.yaml",
        ROUTE.replace("namespace: web", "namespace: ml-serving")
        + (
            "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
            "metadata: {name: default, namespace: ml-serving}\nspec: {mtls: {mode: STRICT}}\n"
        ),
    )
    before = cluster.read_text()
    rc, _, err = cli(capsys, "--unsafe-fixes", "--rule", "MG101", "--context", "cluster", "ns.yaml")
    assert rc == 0, err
    assert ns.read_text() == ML_NAMESPACE
    assert cluster.read_text() == before


def test_diff_of_a_created_new_docs_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path / "ns.yaml", ML_NAMESPACE)
    rc, out, _ = cli(
        capsys, "--diff", "--unsafe-fixes", "--rule", "MG101", "--new-docs", "new.yaml", "ns.yaml"
    )
    assert rc == 1
    assert out.startswith(
        "--- /dev/null\n+++ new.yaml\n@@ -0,0 +1,8 @@\n+apiVersion: security.istio.io/v1\n"
    )
    assert not (tmp_path / "new.yaml").exists()


LLM_ROUTE = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat, namespace: ml-serving}
spec:
  hosts: [chat.example.com]
  gateways: [istio-ingress/gw]
  http:
  - match: [{uri: {prefix: /v1/chat/completions}}]
    timeout: 60s
    retries: {attempts: 1, perTryTimeout: 50s, retryOn: "connect-failure,refused-stream"}
    route: [{destination: {host: llm.example.com}}]
"""


@pytest.mark.parametrize("order", ["timeout first", "retries first"])
def test_a_fix_computed_from_a_value_waits_for_the_fix_that_changes_it(
    order: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """MG206 raises the LLM timeout 60s -> 120s; MG204's fix (retries 0) was computed for 60s and
    tests it, so it waits a pass, and with 120s the (1+1) x 50s budget fits: retries stay."""
    text = LLM_ROUTE
    if order == "retries first":
        text = text.replace("    timeout: 60s\n", "").replace(
            "    route: [", "    timeout: 60s\n    route: ["
        )
    path = write(tmp_path / "chat.yaml", text)
    rc, _, err = cli(capsys, "--unsafe-fixes", str(path))
    assert rc == 1
    assert path.read_text(encoding="utf-8") == text.replace("timeout: 60s", "timeout: 120s")
    assert "1 fix (MG206 x1)" in err
