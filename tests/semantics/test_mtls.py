"""Golden tests for RULES.md P6 (meshguard.semantics.mtls).

Cases marked `policy_applier_test.go` are ports of istio/istio @ 86c9f01f
`pilot/pkg/security/authn/policy_applier_test.go: TestComposePeerAuthentication`; cases marked
`config.go` follow `pilot/pkg/model/config.go: configCompareByCreationTime`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from meshguard.model import Origin, Resource
from meshguard.semantics import mtls

ROOT = "root-namespace"
NOW = "2026-01-01T00:00:10Z"
SECOND_AGO = "2026-01-01T00:00:09Z"


def pa(
    name: str,
    namespace: str,
    mode: str | None = None,
    labels: Mapping[str, str] | None = None,
    ports: Mapping[Any, Any] | None = None,
    ts: str | None = None,
    spec: Any = "<build>",
) -> Resource:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if ts is not None:
        metadata["creationTimestamp"] = ts
    if spec == "<build>":
        spec = {}
        if mode is not None:
            spec["mtls"] = {"mode": mode}
        if labels is not None:
            spec["selector"] = {"matchLabels": dict(labels)}
        if ports is not None:
            spec["portLevelMtls"] = dict(ports)
    body = {
        "apiVersion": "security.istio.io/v1",
        "kind": "PeerAuthentication",
        "metadata": metadata,
        "spec": spec,
    }
    return Resource(
        "security.istio.io/v1", "PeerAuthentication", namespace, name, body, Origin("t.yaml", 0)
    )


class FakeSource:
    """The two things P6 reads from an inventory."""

    def __init__(self, resources: list[Resource], root: str = ROOT) -> None:
        self.resources = resources
        self.root = root

    @property
    def root_namespace(self) -> str:
        return self.root

    def in_namespace(self, namespace: str, group: str, kind: str) -> list[Resource]:
        return [
            r for r in self.resources if (r.namespace, r.group, r.kind) == (namespace, group, kind)
        ]


# -- ComposePeerAuthentication: (name, configs, mode, per_port) ------------------------------
COMPOSE = [
    # policy_applier_test.go "no config"
    ("no config", [], "PERMISSIVE", {}),
    # "mesh only"
    ("mesh only", [pa("default", ROOT, "STRICT")], "STRICT", {}),
    # "mesh vs namespace": an empty matchLabels map is selector-less
    (
        "mesh vs namespace",
        [pa("default", ROOT, "STRICT", labels={}), pa("default", "my-ns", "PERMISSIVE")],
        "PERMISSIVE",
        {},
    ),
    # "ignore non-emptypb selector in root namespace"
    (
        "root selector ignored",
        [pa("default", ROOT, "STRICT", labels={"app": "foo"})],
        "PERMISSIVE",
        {},
    ),
    # "workload vs namespace config": both UNSET
    (
        "workload vs namespace",
        [pa("default", "my-ns"), pa("foo", "my-ns", labels={"app": "foo"})],
        "PERMISSIVE",
        {},
    ),
    # "workload vs mesh config"
    (
        "namespace over mesh",
        [pa("default", "my-ns", "PERMISSIVE"), pa("default", ROOT, "DISABLE")],
        "PERMISSIVE",
        {},
    ),
    # "multiple mesh policy": oldest wins, same-second tie by name ("second ago" < "second later")
    (
        "multiple mesh",
        [
            pa("now", ROOT, "DISABLE", ts=NOW),
            pa("second ago", ROOT, "PERMISSIVE", ts=SECOND_AGO),
            pa("second later", ROOT, "STRICT", ts=SECOND_AGO),
        ],
        "PERMISSIVE",
        {},
    ),
    # "multiple namespace policy"
    (
        "multiple namespace",
        [
            pa("now", "my-ns", "DISABLE", ts=NOW),
            pa("second ago", "my-ns", "PERMISSIVE", ts=SECOND_AGO),
            pa("second later", "my-ns", "STRICT", ts=SECOND_AGO),
        ],
        "PERMISSIVE",
        {},
    ),
    # "multiple workload policy"
    (
        "multiple workload",
        [
            pa("now", "my-ns", "DISABLE", labels={"app": "foo"}, ts=NOW),
            pa("second ago", "my-ns", "PERMISSIVE", labels={"app": "foo"}, ts=SECOND_AGO),
            pa("second later", "my-ns", "STRICT", labels={"stage": "prod"}, ts=SECOND_AGO),
        ],
        "PERMISSIVE",
        {},
    ),
    # "inheritance: default mesh": UNSET mesh policy keeps PERMISSIVE
    ("mesh UNSET", [pa("default", ROOT, "UNSET")], "PERMISSIVE", {}),
    # "inheritance: mesh to workload"
    (
        "mesh to workload",
        [pa("default", ROOT, "STRICT"), pa("foo", "my-ns", labels={"app": "foo"})],
        "STRICT",
        {},
    ),
    # "inheritance: namespace to workload"
    (
        "namespace to workload",
        [pa("default", "my-ns", "STRICT"), pa("foo", "my-ns", labels={"app": "foo"})],
        "STRICT",
        {},
    ),
    # "inheritance: mesh to namespace to workload"
    (
        "mesh to namespace to workload",
        [
            pa("default", ROOT, "STRICT"),
            pa("default", "my-ns", "UNSET"),
            pa("foo", "my-ns", labels={"app": "foo"}),
        ],
        "STRICT",
        {},
    ),
    # "port level": UNSET and empty entries inherit the workload mode
    (
        "port level",
        [
            pa("default", ROOT, "STRICT"),
            pa(
                "foo",
                "my-ns",
                labels={"app": "foo"},
                ports={"80": {"mode": "DISABLE"}, "90": {"mode": "UNSET"}, "100": {}},
            ),
        ],
        "STRICT",
        {80: "DISABLE", 90: "STRICT", 100: "STRICT"},
    ),
    # workload mode overrides namespace; portLevelMtls only from the workload policy
    (
        "workload over namespace",
        [
            pa("default", "my-ns", "STRICT"),
            pa(
                "foo",
                "my-ns",
                "PERMISSIVE",
                labels={"app": "foo"},
                ports={8080: {"mode": "STRICT"}},
            ),
        ],
        "PERMISSIVE",
        {8080: "STRICT"},
    ),
    # a rejected PA (portLevelMtls without selector: CRD CEL, ValidatePeerAuthentication) is absent
    (
        "rejected ignored",
        [pa("default", "my-ns", "DISABLE", ports={"80": {"mode": "DISABLE"}})],
        "PERMISSIVE",
        {},
    ),
    # an invalid mode enum is rejected by the CRD
    ("invalid mode ignored", [pa("default", "my-ns", "strict")], "PERMISSIVE", {}),
]


@pytest.mark.parametrize(
    ("configs", "mode", "per_port"), [c[1:] for c in COMPOSE], ids=[c[0] for c in COMPOSE]
)
def test_compose_peer_authentication(
    configs: list[Resource], mode: str, per_port: dict[int, str]
) -> None:
    got = mtls.compose_peer_authentication(ROOT, configs)
    assert (got.mode, dict(got.per_port)) == (mode, per_port)


def test_decided_by_names_the_winning_scope() -> None:
    mesh, ns = pa("default", ROOT, "STRICT"), pa("default", "my-ns", "UNSET")
    got = mtls.compose_peer_authentication(ROOT, [mesh, ns])
    assert got.mesh is mesh and got.namespace is ns and got.decided_by is mesh
    assert mtls.compose_peer_authentication(ROOT, []).decided_by is None


# -- creation order (config.go: configCompareByCreationTime) -----------------------------------
ORDER = [
    # oldest first
    ([pa("b", "ns", ts=NOW), pa("a", "ns", ts=SECOND_AGO)], ["a", "b"]),
    ([pa("a", "ns", ts=NOW), pa("b", "ns", ts=SECOND_AGO)], ["b", "a"]),
    # same second: smallest name (CreationTimestamp is stored in seconds)
    (
        [
            pa("b", "ns", ts="2026-01-01T00:00:09.900Z"),
            pa("a", "ns", ts="2026-01-01T00:00:09.100Z"),
        ],
        ["a", "b"],
    ),
    # no timestamps (manifests): name order
    ([pa("strict", "ns"), pa("default", "ns")], ["default", "strict"]),
    # same name: namespace order
    ([pa("default", "ns-b"), pa("default", "ns-a")], ["default", "default"]),
    # a manifest not yet created will be the newest object
    ([pa("aaa", "ns"), pa("zzz", "ns", ts=NOW)], ["zzz", "aaa"]),
    # timezone offsets compare as instants
    (
        [pa("a", "ns", ts="2026-01-01T01:00:00+01:00"), pa("b", "ns", ts="2025-12-31T23:59:59Z")],
        ["b", "a"],
    ),
]


@pytest.mark.parametrize(("policies", "names"), ORDER)
def test_creation_order(policies: list[Resource], names: list[str]) -> None:
    assert [p.name for p in mtls.in_creation_order(policies)] == names


def test_duplicate_copies_count_once_with_the_cluster_timestamp() -> None:
    manifest = pa("default", "ns", "STRICT")  # input copy: edited, no timestamp
    cluster = pa("default", "ns", "PERMISSIVE", ts=SECOND_AGO)
    newer = pa("aaa", "ns", "DISABLE", ts=NOW)
    ordered = mtls.in_creation_order([manifest, newer, cluster])
    assert ordered == [manifest, newer]


def test_unreadable_timestamp_sorts_last() -> None:
    assert mtls.creation_timestamp(pa("a", "ns", ts="yesterday")) is None
    assert mtls.oldest([pa("a", "ns", ts="yesterday"), pa("b", "ns", ts=NOW)]).name == "b"


# -- validity (crd-all.gen.yaml, validation.go: ValidatePeerAuthentication) --------------------
VALIDITY = [
    (pa("x", "ns", "STRICT"), None),
    (pa("x", "ns", spec=None), None),
    (pa("x", "ns", "STRICT", labels={"app": "a"}, ports={"8080": {"mode": "DISABLE"}}), None),
    (pa("x", "ns", spec="STRICT"), "spec is not a mapping"),
    (pa("x", "ns", spec={"mtls": "STRICT"}), "spec.mtls is not a mapping"),
    (
        pa("x", "ns", "Strict"),
        "spec.mtls.mode 'Strict' is not one of UNSET, DISABLE, PERMISSIVE, STRICT",
    ),
    (
        pa("x", "ns", "STRICT", ports={"8080": {"mode": "DISABLE"}}),
        "portLevelMtls requires selector",
    ),
    (pa("x", "ns", labels={"app": "a"}, ports={}), "spec.portLevelMtls is empty"),
    (
        pa("x", "ns", labels={"app": "a"}, ports={"0": {}}),
        "spec.portLevelMtls key '0' is not a port 1-65535",
    ),
    (
        pa("x", "ns", labels={"app": "a"}, ports={"65536": {}}),
        "spec.portLevelMtls key '65536' is not a port 1-65535",
    ),
    (
        pa("x", "ns", spec={"selector": {"matchLabels": {"v": 1}}}),
        "spec.selector.matchLabels has a non-string value",
    ),
    (pa("x", "ns", spec={"selector": ["app"]}), "spec.selector is not a mapping"),
]


@pytest.mark.parametrize(("policy", "error"), VALIDITY)
def test_peer_authentication_error(policy: Resource, error: str | None) -> None:
    assert mtls.peer_authentication_error(policy) == error


@pytest.mark.parametrize(
    ("key", "port"),
    [
        ("8080", 8080),
        (8080, 8080),
        ("0", None),
        ("65535", 65535),
        ("65536", None),
        ("http", None),
        (" 80", None),
        (True, None),
        ("٨٠", None),
    ],
)
def test_port_key(key: Any, port: int | None) -> None:
    assert mtls.port_key(key) == port


# -- namespace, workload and port views over an inventory --------------------------------------
def test_namespace_mode_ignores_workload_policies() -> None:
    source = FakeSource(
        [pa("default", ROOT, "PERMISSIVE"), pa("foo", "ml", "STRICT", labels={"app": "foo"})]
    )
    assert mtls.namespace_mtls(source, "ml").mode == "PERMISSIVE"
    assert mtls.workload_mtls(source, "ml", {"app": "foo"}).mode == "STRICT"
    assert mtls.workload_mtls(source, "ml", {"app": "bar"}).mode == "PERMISSIVE"


def test_workload_selector_must_be_a_subset_of_pod_labels() -> None:
    source = FakeSource([pa("foo", "ml", "DISABLE", labels={"app": "foo", "tier": "gpu"})])
    assert mtls.workload_mtls(source, "ml", {"app": "foo"}).mode == "PERMISSIVE"
    assert (
        mtls.workload_mtls(source, "ml", {"app": "foo", "tier": "gpu", "x": "y"}).mode == "DISABLE"
    )


def test_other_namespaces_do_not_apply() -> None:
    source = FakeSource([pa("default", "other", "STRICT"), pa("default", ROOT, "DISABLE")])
    assert mtls.namespace_mtls(source, "ml").mode == "DISABLE"


def test_port_mode_uses_container_port_keys() -> None:
    source = FakeSource(
        [
            pa("default", "ml", "STRICT"),
            pa(
                "predictor",
                "ml",
                labels={"component": "predictor"},
                ports={"8080": {"mode": "PERMISSIVE"}},
            ),
        ]
    )
    labels = {"component": "predictor"}
    assert mtls.port_mtls(source, "ml", labels, 8080) == "PERMISSIVE"
    assert mtls.port_mtls(source, "ml", labels, 80) == "STRICT"  # a Service port is not a key


def test_hostile_specs_never_raise() -> None:
    hostile = [
        pa("a", "ml", spec=[1, 2]),
        pa("b", "ml", spec={"mtls": None, "selector": None}),
        pa("c", "ml", spec={"portLevelMtls": ["80"]}),
        pa("d", "ml", spec={"mtls": {"mode": 3}}),
    ]
    source = FakeSource(hostile)
    assert mtls.namespace_mtls(source, "ml").mode == "PERMISSIVE"
    for policy in hostile:
        mtls.peer_authentication_error(policy)
        mtls.port_level_modes(policy)
