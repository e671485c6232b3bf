"""MG301–MG305: DestinationRule resilience, one test per numbered condition (RULES.md §2 MG3xx).

Findings are asserted as (line, severity); lines are located by a marker comment (`# <-`) so the
manifests stay readable. Upstream facts under test: subset and port-level blocks replace the DR
block wholesale (`pilot/pkg/model/destination_rule.go: MergeTrafficPolicy`,
`pilot/pkg/networking/util/util.go: GetPortLevelTrafficPolicy`), mesh `defaultTrafficPolicy`
fills unset blocks from Istio 1.31 (`cluster_traffic_policy.go: applyDefaultTrafficPolicy`), and a
DR-level `UPGRADE` applies even to sniffed ports (`shouldH2Upgrade`).
"""

from __future__ import annotations

import copy
import textwrap
from typing import Any

import jsonpatch
import pytest

from meshguard.model import Finding, Safety
from tests.lintkit import findings_of, lines_of, lint_text

MARK = "# <-"


def doc(text: str) -> str:
    return "---\n" + textwrap.dedent(text).strip("\n") + "\n"


def marked(text: str, mark: str = MARK) -> list[int]:
    """1-based lines carrying `mark`."""
    return [i for i, line in enumerate(text.splitlines(), 1) if mark in line]


def deployment(
    replicas: int | str | None = 2, labels: str = "component: predictor", meta: str = ""
) -> str:
    count = "" if replicas is None else f"replicas: {replicas}"
    return doc(
        f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: sklearn-predictor, namespace: ml-serving{meta}}}
        spec:
          {count}
          selector: {{matchLabels: {{{labels}}}}}
          template:
            metadata: {{labels: {{{labels}}}}}
            spec:
              containers: [{{name: kserve-container, image: kserve/sklearnserver:v0.14.0}}]
        """
    )


def service(
    ports: str = "[{name: http, port: 80, targetPort: 8080, appProtocol: http}]",
    selector: str = "component: predictor",
    extra: str = "",
) -> str:
    return doc(
        f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: sklearn-predictor, namespace: ml-serving{extra}}}
        spec:
          selector: {{{selector}}}
          ports: {ports}
        """
    )


def dr(spec: str, host: str = "sklearn-predictor") -> str:
    """A DestinationRule; `spec` is the YAML under `spec:` after `host:`."""
    return (
        doc(
            f"""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {{name: sklearn, namespace: ml-serving}}
        spec:
          host: {host}
        """
        )
        + textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
        + "\n"
    )


def mesh(config: str) -> str:
    return doc(
        f"""
        apiVersion: install.istio.io/v1alpha1
        kind: IstioOperator
        metadata: {{name: istio, namespace: istio-system}}
        spec:
          meshConfig: {config}
        """
    )


INFERENCE = deployment() + service()
FULL_POOL = """\
connectionPool:
  tcp: {maxConnections: 1000}
  http:
    h2UpgradePolicy: UPGRADE
    http1MaxPendingRequests: 1000
    http2MaxRequests: 1000
    maxRequestsPerConnection: 100
"""
FULL_OUTLIER = (
    "outlierDetection: {consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 60s,"
    " maxEjectionPercent: 50}\n"
)


def only(text: str, rule: str, params: dict[str, Any] | None = None) -> Finding:
    found = findings_of(text, rule, params)
    assert len(found) == 1, [(f.position.line, f.message) for f in found]
    return found[0]


def fixed(text: str, rule: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The DestinationRule after applying every fix of `rule` in order."""
    found = [f for f in findings_of(text, rule, params) if f.fix is not None]
    assert found
    body: dict[str, Any] = copy.deepcopy(dict(found[0].resource.body))  # type: ignore[union-attr]
    for finding in found:
        assert finding.fix is not None
        body = jsonpatch.apply_patch(body, list(finding.fix.ops))
    return body


def relint(text: str, rule: str, params: dict[str, Any] | None = None) -> list[tuple[int, str]]:
    """Apply the rule's fixes to the last document (the DR) and lint the result again."""
    import yaml

    head, _, _ = text.rpartition("---\n")
    body = fixed(text, rule, params)
    return lines_of(head + "---\n" + yaml.safe_dump(body, sort_keys=False), rule, params)


# -------------------------------------------------------------------------------------------
# MG301 — connectionPool
# -------------------------------------------------------------------------------------------
class TestMG301:
    def test_1_empty_top_level_traffic_policy(self) -> None:
        text = dr("trafficPolicy: {}  # <-")
        assert lines_of(text, "MG301") == [(marked(text)[0], "error")]
        assert fixed(text, "MG301")["spec"]["trafficPolicy"]["connectionPool"]["tcp"] == {
            "maxConnections": 1000
        }

    def test_1_empty_port_list_is_no_field(self) -> None:
        text = dr("trafficPolicy: {portLevelSettings: []}  # <-")
        assert lines_of(text, "MG301") == [(marked(text)[0], "error")]

    def test_1_empty_connection_pool(self) -> None:
        text = dr("trafficPolicy:\n  connectionPool: {}  # <-")
        finding = only(text, "MG301")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "error")
        assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE
        pool = fixed(text, "MG301")["spec"]["trafficPolicy"]["connectionPool"]
        assert "h2UpgradePolicy" not in pool["http"]  # left to MG302, which knows the ports

    def test_1_port_entry_without_a_policy_field(self) -> None:
        text = dr(
            """
            trafficPolicy:
              loadBalancer: {simple: LEAST_REQUEST}
              portLevelSettings:
              - port: {number: 80}  # <-
            """
        )
        assert lines_of(text, "MG301") == [(marked(text)[0], "error")]

    def test_1_empty_subset_policy(self) -> None:
        text = dr("subsets:\n- name: v1\n  labels: {version: v1}\n  trafficPolicy: {}  # <-")
        assert lines_of(text, "MG301") == [(marked(text)[0], "error")]

    def test_1_on_an_inference_host_is_not_also_a_warning(self) -> None:
        text = INFERENCE + dr("trafficPolicy:\n  connectionPool: {}  # <-")
        assert lines_of(text, "MG301") == [(marked(text)[0], "error")]

    @pytest.mark.parametrize(
        ("section", "key"),
        [
            ("tcp", "maxConnections"),
            ("http", "http1MaxPendingRequests"),
            ("http", "http2MaxRequests"),
            ("http", "maxRequestsPerConnection"),
            ("http", "maxRetries"),
            ("http", "maxConcurrentStreams"),
        ],
    )
    def test_2_negative_limit(self, section: str, key: str) -> None:
        text = dr(f"trafficPolicy:\n  connectionPool:\n    {section}: {{{key}: -1}}  # <-")
        finding = only(text, "MG301")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "error")
        value = fixed(text, "MG301")["spec"]["trafficPolicy"]["connectionPool"][section].get(key)
        assert value in (None, 1000, 100)

    def test_3_inference_host_without_any_traffic_policy(self) -> None:
        text = INFERENCE + dr("subsets: [{name: v1, labels: {version: v1}}]").replace(
            "host: sklearn-predictor", "host: sklearn-predictor  # <-"
        )
        assert lines_of(text, "MG301") == [(marked(text)[0], "warning")]
        pool = fixed(text, "MG301")["spec"]["trafficPolicy"]["connectionPool"]
        assert pool == {
            "tcp": {"maxConnections": 1000},
            "http": {
                "http1MaxPendingRequests": 1000,
                "http2MaxRequests": 1000,
                "maxRequestsPerConnection": 100,
            },
        }
        assert relint(text, "MG301") == []

    def test_3_missing_and_zero_limits(self) -> None:
        text = INFERENCE + dr(
            """
            trafficPolicy:
              connectionPool:  # <-
                tcp: {maxConnections: 0}
                http: {http2MaxRequests: 1000, http1MaxPendingRequests: 10,
                       maxRequestsPerConnection: 100}
            """
        )
        finding = only(text, "MG301")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert "tcp.maxConnections" in finding.message and "http2MaxRequests" not in finding.message
        assert fixed(text, "MG301")["spec"]["trafficPolicy"]["connectionPool"]["tcp"] == {
            "maxConnections": 1000
        }

    def test_3_only_for_inference_hosts(self) -> None:
        text = (
            deployment(labels="app: web")
            + service(selector="app: web")
            + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}")
        )
        assert lines_of(text, "MG301") == []

    def test_3_inference_pool_shadow_service_is_excluded(self) -> None:
        shadow = service(extra=", labels: {istio.io/inferencepool-name: llama}")
        text = deployment() + shadow + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}")
        assert lines_of(text, "MG301") == []

    def test_3_subset_replacing_the_pool_is_its_own_level(self) -> None:
        text = INFERENCE + dr(
            "trafficPolicy:\n"
            + textwrap.indent(FULL_POOL, "  ")
            + "subsets:\n- name: v2\n  labels: {version: v2}\n  trafficPolicy:\n"
            + "    connectionPool: {http: {http2MaxRequests: 1000}}  # <-"
        )
        assert lines_of(text, "MG301") == [(marked(text)[0], "warning")]

    def test_3_port_entry_decides_its_port(self) -> None:
        text = INFERENCE + dr(
            "trafficPolicy:\n"
            + textwrap.indent(FULL_POOL, "  ")
            + "  portLevelSettings:\n"
            + "  - port: {number: 80}  # <-\n"
            + "    loadBalancer: {simple: LEAST_REQUEST}\n"
            + "  - port: {number: 9999}\n"  # not a Service port: never applies
            + "    loadBalancer: {simple: LEAST_REQUEST}\n"
        )
        assert lines_of(text, "MG301") == [(marked(text)[0], "warning")]
        entry = fixed(text, "MG301")["spec"]["trafficPolicy"]["portLevelSettings"][0]
        assert entry["connectionPool"]["tcp"] == {"maxConnections": 1000}

    def test_3_mesh_default_traffic_policy_from_1_31(self) -> None:
        pool = (
            "{tcp: {maxConnections: 500}, http: {http1MaxPendingRequests: 500,"
            " http2MaxRequests: 500, maxRequestsPerConnection: 50}}"
        )
        text = (
            mesh(f"{{defaultTrafficPolicy: {{connectionPool: {pool}}}}}")
            + INFERENCE
            + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}  # <-")
        )
        assert lines_of(text, "MG301", {"istio_version": "1.31"}) == []
        assert lines_of(text, "MG301", {"istio_version": "1.30"}) == [(marked(text)[0], "warning")]

    def test_3_partial_mesh_default_is_copied_into_the_fix(self) -> None:
        text = (
            mesh("{defaultTrafficPolicy: {connectionPool: {tcp: {maxConnections: 500}}}}")
            + INFERENCE
            + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}  # <-")
        )
        params = {"istio_version": "1.31"}
        finding = only(text, "MG301", params)
        assert (
            finding.position.line == marked(text)[0]
            and "mesh defaulttrafficpolicy" in finding.message.lower()
        )
        pool = fixed(text, "MG301", params)["spec"]["trafficPolicy"]["connectionPool"]
        assert pool["tcp"] == {"maxConnections": 500} and pool["http"]["http2MaxRequests"] == 1000

    def test_4_profile_deviation_only_when_enforced(self) -> None:
        text = INFERENCE + dr(
            "trafficPolicy:\n"
            + textwrap.indent(
                FULL_POOL.replace("maxConnections: 1000}", "maxConnections: 10}  # <-"), "  "
            )
        )
        assert lines_of(text, "MG301") == []
        assert lines_of(text, "MG301", {"enforce_profile_values": True}) == [
            (marked(text)[0], "info")
        ]

    def test_5_keep_alive_disabled(self) -> None:
        pool = FULL_POOL.replace(
            "maxRequestsPerConnection: 100", "maxRequestsPerConnection: 1  # <-"
        )
        text = INFERENCE + dr("trafficPolicy:\n" + textwrap.indent(pool, "  "))
        finding = only(text, "MG301", {"enforce_profile_values": True})
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "info")
        assert (
            fixed(text, "MG301")["spec"]["trafficPolicy"]["connectionPool"]["http"][
                "maxRequestsPerConnection"
            ]
            == 100
        )

    def test_lesson_profile_passes(self) -> None:
        text = INFERENCE + dr("trafficPolicy:\n" + textwrap.indent(FULL_POOL + FULL_OUTLIER, "  "))
        assert lines_of(text, "MG301", {"enforce_profile_values": True}) == []


# -------------------------------------------------------------------------------------------
# MG302 — h2UpgradePolicy
# -------------------------------------------------------------------------------------------
SNIFFED = "[{name: rest, port: 80, targetPort: 8080}]"
UPGRADE = "trafficPolicy:\n  connectionPool:\n    http: {h2UpgradePolicy: UPGRADE}  # <-"


class TestMG302:
    def test_1_upgrade_with_use_client_protocol(self) -> None:
        text = dr(
            "trafficPolicy:\n  connectionPool:\n"
            "    http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}  # <-"
        )
        finding = only(text, "MG302")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "error")
        assert finding.pointer.endswith("/useClientProtocol")

    def test_1_in_a_subset(self) -> None:
        text = dr(
            """
            subsets:
            - name: v1
              labels: {version: v1}
              trafficPolicy:
                connectionPool:
                  http:
                    h2UpgradePolicy: UPGRADE
                    useClientProtocol: true  # <-
            """
        )
        assert lines_of(text, "MG302") == [(marked(text)[0], "error")]

    def test_2_upgrade_on_a_sniffed_port(self) -> None:
        text = deployment(labels="app: sklearn") + service(SNIFFED, "app: sklearn") + dr(UPGRADE)
        finding = only(text, "MG302")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert (
            fixed(text, "MG302")["spec"]["trafficPolicy"]["connectionPool"]["http"][
                "h2UpgradePolicy"
            ]
            == "DO_NOT_UPGRADE"
        )

    def test_2_no_fix_when_the_level_also_governs_a_declared_port(self) -> None:
        ports = "[{name: rest, port: 80}, {name: http-v2, port: 8080}]"
        text = service(ports, "app: sklearn") + dr(UPGRADE)
        finding = only(text, "MG302")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert finding.fix is None and "port 80 (rest)" in finding.message

    def test_2_a_port_entry_governs_its_own_port(self) -> None:
        ports = "[{name: rest, port: 80}, {name: http-v2, port: 8080}]"
        ok = service(ports, "app: sklearn") + dr(
            "trafficPolicy:\n"
            "  connectionPool: {http: {h2UpgradePolicy: UPGRADE}}\n  portLevelSettings:\n"
            "  - port: {number: 80}\n    connectionPool: {http: {h2UpgradePolicy: DO_NOT_UPGRADE}}"
        )
        assert lines_of(ok, "MG302") == []
        bad = service(ports, "app: sklearn") + dr(
            "trafficPolicy:\n  portLevelSettings:\n  - port: {number: 80}\n"
            "    connectionPool: {http: {h2UpgradePolicy: UPGRADE}}  # <-"
        )
        assert lines_of(bad, "MG302") == [(marked(bad)[0], "warning")]

    def test_2_use_client_protocol_means_no_upgrade(self) -> None:
        text = service(SNIFFED, "app: sklearn") + dr(
            "trafficPolicy:\n  connectionPool:\n    http: {useClientProtocol: true}"
        )
        assert lines_of(text, "MG302") == []

    def test_2_upgrade_to_pods_without_sidecar(self) -> None:
        namespace = doc(
            "apiVersion: v1\nkind: Namespace\n"
            "metadata: {name: ml-serving, labels: {istio-injection: disabled}}"
        )
        text = (
            namespace
            + deployment(labels="app: sklearn")
            + service(selector="app: sklearn")
            + dr(UPGRADE)
        )
        finding = only(text, "MG302")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert "outside the mesh" in finding.message

    def test_2_pods_of_an_injected_namespace_are_in_the_mesh(self) -> None:
        namespace = doc(
            "apiVersion: v1\nkind: Namespace\n"
            "metadata: {name: ml-serving, labels: {istio-injection: enabled}}"
        )
        text = (
            namespace
            + deployment(labels="app: sklearn")
            + service(selector="app: sklearn")
            + dr(UPGRADE)
        )
        assert lines_of(text, "MG302") == []

    def test_2_mesh_upgrade_to_a_service_entry(self) -> None:
        entry = doc(
            """
            apiVersion: networking.istio.io/v1
            kind: ServiceEntry
            metadata: {name: hosted, namespace: ml-serving}
            spec:
              hosts: [llm.example.com]
              ports: [{number: 443, name: http, protocol: HTTP}]
            """
        )
        text = (
            mesh("{h2UpgradePolicy: UPGRADE}")
            + entry
            + dr(
                "trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}  # <-",
                host="llm.example.com",
            )
        )
        assert lines_of(text, "MG302") == [(marked(text)[0], "warning")]
        assert fixed(text, "MG302")["spec"]["trafficPolicy"]["connectionPool"] == {
            "http": {"h2UpgradePolicy": "DO_NOT_UPGRADE"}
        }

    def test_2_service_not_in_the_input_is_unresolved(self) -> None:
        text = dr(UPGRADE)
        assert lines_of(text, "MG302") == [(marked(text)[0], "info")]
        assert lines_of(text, "MG302", {"strict_refs": True}) == [(marked(text)[0], "error")]
        assert lines_of(dr(UPGRADE, host='"*.example.com"'), "MG302") == []

    def test_3_inference_host_without_upgrade(self) -> None:
        text = INFERENCE + dr(
            "trafficPolicy:\n  connectionPool:\n    http: {h2UpgradePolicy: DO_NOT_UPGRADE}  # <-"
        )
        finding = only(text, "MG302")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "info")
        assert finding.pointer.endswith("/h2UpgradePolicy")
        assert (
            fixed(text, "MG302")["spec"]["trafficPolicy"]["connectionPool"]["http"][
                "h2UpgradePolicy"
            ]
            == "UPGRADE"
        )

    def test_3_mesh_upgrade_satisfies_the_profile(self) -> None:
        text = (
            mesh("{h2UpgradePolicy: UPGRADE}")
            + INFERENCE
            + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}")
        )
        assert lines_of(text, "MG302") == []

    def test_3_not_on_sniffed_ports(self) -> None:
        text = (
            deployment()
            + service(SNIFFED)
            + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}")
        )
        assert lines_of(text, "MG302") == []

    def test_3_grpc_port_counts_as_declared(self) -> None:
        ports = "[{name: grpc, port: 8001, appProtocol: kubernetes.io/h2c}]"
        text = (
            deployment()
            + service(ports)
            + dr("trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}  # <-")
        )
        assert lines_of(text, "MG302") == [(marked(text)[0], "info")]


# -------------------------------------------------------------------------------------------
# MG303 — outlierDetection
# -------------------------------------------------------------------------------------------
class TestMG303:
    def test_1_inference_host_without_outlier_detection(self) -> None:
        text = INFERENCE + dr("trafficPolicy:  # <-\n" + textwrap.indent(FULL_POOL, "  "))
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]
        assert (
            fixed(text, "MG303")["spec"]["trafficPolicy"]["outlierDetection"][
                "consecutive5xxErrors"
            ]
            == 5
        )
        assert relint(text, "MG303") == []

    def test_1_mesh_default_outlier_detection_from_1_31(self) -> None:
        text = (
            mesh("{defaultTrafficPolicy: {outlierDetection: {consecutive5xxErrors: 5}}}")
            + INFERENCE
            + dr("trafficPolicy:  # <-\n" + textwrap.indent(FULL_POOL, "  "))
        )
        assert lines_of(text, "MG303", {"istio_version": "1.31"}) == []
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]  # default 1.28

    def test_1_skipped_for_a_single_replica_host(self) -> None:
        text = (
            deployment(replicas=None)
            + service()
            + dr("trafficPolicy:\n" + textwrap.indent(FULL_POOL, "  "))
        )
        assert lines_of(text, "MG303") == []

    def test_1_an_autoscaler_makes_it_multi_replica(self) -> None:
        hpa = doc(
            """
            apiVersion: autoscaling/v2
            kind: HorizontalPodAutoscaler
            metadata: {name: sklearn, namespace: ml-serving}
            spec:
              scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: sklearn-predictor}
              maxReplicas: 4
            """
        )
        text = (
            hpa
            + deployment(replicas=1)
            + service()
            + dr("trafficPolicy:  # <-\n" + textwrap.indent(FULL_POOL, "  "))
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]

    def test_2_deprecated_consecutive_errors(self) -> None:
        text = dr("trafficPolicy:\n  outlierDetection:\n    consecutiveErrors: 7  # <-")
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]
        block = fixed(text, "MG303")["spec"]["trafficPolicy"]["outlierDetection"]
        assert block == {"consecutiveGatewayErrors": 7}

    def test_2_rename_keeps_an_existing_gateway_threshold(self) -> None:
        text = dr(
            "trafficPolicy:\n  outlierDetection:\n"
            "    consecutiveGatewayErrors: 3\n    consecutiveErrors: 7  # <-"
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]
        assert fixed(text, "MG303")["spec"]["trafficPolicy"]["outlierDetection"] == {
            "consecutiveGatewayErrors": 3
        }

    def test_3_local_origin_failures_without_split(self) -> None:
        text = dr(
            "trafficPolicy:\n  outlierDetection:\n"
            "    splitExternalLocalOriginErrors: false\n    consecutiveLocalOriginFailures: 2  # <-"
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "error")]
        assert (
            fixed(text, "MG303")["spec"]["trafficPolicy"]["outlierDetection"][
                "splitExternalLocalOriginErrors"
            ]
            is True
        )
        ok = dr(
            "trafficPolicy:\n"
            "  outlierDetection:\n"
            "    {splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 2}"
        )
        assert lines_of(ok, "MG303") == []

    @pytest.mark.parametrize(
        ("key", "value"),
        [("maxEjectionPercent", -1), ("maxEjectionPercent", 101), ("minHealthPercent", 150)],
    )
    def test_4_percent_out_of_range(self, key: str, value: int) -> None:
        text = dr(
            f"trafficPolicy:\n  outlierDetection:\n    consecutive5xxErrors: 5\n"
            f"    {key}: {value}  # <-"
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "error")]

    def test_5_max_ejection_percent_100(self) -> None:
        text = dr(
            "trafficPolicy:\n  outlierDetection:\n    consecutive5xxErrors: 5\n"
            "    maxEjectionPercent: 100  # <-"
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]
        assert (
            fixed(text, "MG303")["spec"]["trafficPolicy"]["outlierDetection"]["maxEjectionPercent"]
            == 50
        )
        ok = dr(
            "trafficPolicy:\n  outlierDetection: {maxEjectionPercent: 100, minHealthPercent: 50}"
        )
        assert lines_of(ok, "MG303") == []

    def test_5_single_replica_host_with_outlier_detection(self) -> None:
        text = (
            deployment(replicas=1)
            + service()
            + dr(
                "trafficPolicy:\n"
                + textwrap.indent(FULL_POOL, "  ")
                + "  "
                + FULL_OUTLIER.rstrip()
                + "  # <-"
            )
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "warning")]
        healthy = text.replace(
            "maxEjectionPercent: 50}", "maxEjectionPercent: 50, minHealthPercent: 50}"
        )
        assert lines_of(healthy, "MG303") == []

    def test_5_keda_scaled_object_defaults_to_100_replicas(self) -> None:
        scaled = doc(
            """
            apiVersion: keda.sh/v1alpha1
            kind: ScaledObject
            metadata: {name: sklearn, namespace: ml-serving}
            spec:
              scaleTargetRef: {name: sklearn-predictor}
            """
        )
        text = (
            scaled
            + deployment(replicas=1)
            + service()
            + dr("trafficPolicy:\n" + textwrap.indent(FULL_POOL, "  ") + "  " + FULL_OUTLIER)
        )
        assert lines_of(text, "MG303") == []

    def test_6_gateway_threshold_never_fires_first(self) -> None:
        text = dr(
            "trafficPolicy:\n  outlierDetection:\n    consecutive5xxErrors: 3\n"
            "    consecutiveGatewayErrors: 4  # <-"
        )
        assert lines_of(text, "MG303") == [(marked(text)[0], "info")]
        for ok in (
            "consecutive5xxErrors: 5\n    consecutiveGatewayErrors: 4",
            "consecutive5xxErrors: 0\n    consecutiveGatewayErrors: 4",
        ):
            assert lines_of(dr(f"trafficPolicy:\n  outlierDetection:\n    {ok}"), "MG303") == []

    def test_7_profile_values_when_enforced(self) -> None:
        block = (
            "outlierDetection:  # <-\n  consecutive5xxErrors: 5\n  interval: 30s\n"
            "  baseEjectionTime: 1m\n"
        )
        text = INFERENCE + dr("trafficPolicy:\n" + textwrap.indent(FULL_POOL + block, "  "))
        assert lines_of(text, "MG303") == []
        # maxEjectionPercent unset: Istio's default 10 differs from the profile's 50
        assert lines_of(text, "MG303", {"enforce_profile_values": True}) == [
            (marked(text)[0], "info")
        ]
        body = fixed(text, "MG303", {"enforce_profile_values": True})
        assert body["spec"]["trafficPolicy"]["outlierDetection"]["maxEjectionPercent"] == 50


# -------------------------------------------------------------------------------------------
# MG304 — load balancer
# -------------------------------------------------------------------------------------------
class TestMG304:
    @pytest.mark.parametrize("simple", ["ROUND_ROBIN", "RANDOM"])
    def test_1_round_robin_and_random(self, simple: str) -> None:
        text = INFERENCE + dr(f"trafficPolicy:\n  loadBalancer: {{simple: {simple}}}  # <-")
        finding = only(text, "MG304")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert finding.fix is not None and finding.fix.safety is Safety.UNSAFE

    def test_1_only_for_inference_hosts(self) -> None:
        text = (
            deployment(labels="app: web")
            + service(selector="app: web")
            + dr("trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}")
        )
        assert lines_of(text, "MG304") == []

    def test_1_subset_policy_is_effective_for_its_subset(self) -> None:
        text = INFERENCE + dr(
            "trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}\nsubsets:\n"
            "- name: v2\n  labels: {version: v2}\n"
            "  trafficPolicy:\n    loadBalancer: {simple: RANDOM}  # <-"
        )
        assert lines_of(text, "MG304") == [(marked(text)[0], "warning")]

    def test_2_least_conn_on_any_host_is_a_safe_fix(self) -> None:
        text = dr("trafficPolicy:\n  loadBalancer: {simple: LEAST_CONN}  # <-")
        finding = only(text, "MG304")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert finding.fix is not None and finding.fix.safety is Safety.SAFE

    def test_3_passthrough(self) -> None:
        text = INFERENCE + dr("trafficPolicy:\n  loadBalancer: {simple: PASSTHROUGH}  # <-")
        assert lines_of(text, "MG304") == [(marked(text)[0], "warning")]

    @pytest.mark.parametrize(
        "lb",
        [
            "",
            "  loadBalancer: {simple: UNSPECIFIED}  # <-\n",
            "  loadBalancer: {warmupDurationSecs: 10s}  # <-\n",
        ],
    )
    def test_4_unset_is_info_with_a_safe_fix(self, lb: str) -> None:
        text = INFERENCE + dr("trafficPolicy:  # <-\n" + textwrap.indent(FULL_POOL, "  ") + lb)
        finding = only(text, "MG304")
        assert (finding.position.line, finding.severity.value) == (marked(text)[-1], "info")
        assert finding.fix is not None and finding.fix.safety is Safety.SAFE
        assert (
            fixed(text, "MG304")["spec"]["trafficPolicy"]["loadBalancer"]["simple"]
            == "LEAST_REQUEST"
        )

    def test_5_consistent_hash(self) -> None:
        text = INFERENCE + dr(
            "trafficPolicy:\n  loadBalancer:\n    consistentHash: {useSourceIp: true}  # <-"
        )
        finding = only(text, "MG304")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "info")
        assert finding.fix is None


# -------------------------------------------------------------------------------------------
# MG305 — subset / port-level policies replace blocks wholesale
# -------------------------------------------------------------------------------------------
TOP = (
    "trafficPolicy:\n"
    "  connectionPool: {tcp: {maxConnections: 1000}, http: {http2MaxRequests: 1000}}\n"
)


class TestMG305:
    def test_subset_block_drops_fields(self) -> None:
        text = dr(
            TOP + "subsets:\n- name: v2\n  labels: {version: v2}\n  trafficPolicy:\n"
            "    connectionPool: {http: {maxRequestsPerConnection: 100}}  # <-"
        )
        finding = only(text, "MG305")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert "tcp.maxConnections, http.http2MaxRequests" in finding.message
        pool = fixed(text, "MG305")["spec"]["subsets"][0]["trafficPolicy"]["connectionPool"]
        assert pool == {
            "tcp": {"maxConnections": 1000},
            "http": {"http2MaxRequests": 1000, "maxRequestsPerConnection": 100},
        }
        assert relint(text, "MG305") == []

    def test_subset_without_the_block_inherits_it(self) -> None:
        text = dr(
            TOP + "subsets:\n- name: v2\n  labels: {version: v2}\n  trafficPolicy:\n"
            "    loadBalancer: {simple: LEAST_REQUEST}"
        )
        assert lines_of(text, "MG305") == []

    def test_oneof_members_are_not_lost(self) -> None:
        text = dr(
            "trafficPolicy:\n  loadBalancer: {simple: LEAST_REQUEST}\nsubsets:\n"
            "- name: v2\n  labels: {version: v2}\n"
            "  trafficPolicy:\n    loadBalancer: {consistentHash: {httpHeaderName: x-user}}"
        )
        assert lines_of(text, "MG305") == []

    def test_tls_of_another_mode_is_not_lost(self) -> None:
        text = dr(
            "trafficPolicy:\n  tls: {mode: SIMPLE, sni: a.example.com}\n"
            "subsets:\n- name: v2\n  labels: {version: v2}\n"
            "  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}"
        )
        assert lines_of(text, "MG305") == []

    def test_port_entry_omits_blocks(self) -> None:
        text = dr(
            TOP + "  outlierDetection: {consecutive5xxErrors: 5}\n"
            "  portLevelSettings:\n  - port: {number: 8001}  # <-\n"
            "    loadBalancer: {simple: LEAST_REQUEST}"
        )
        finding = only(text, "MG305")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert "connectionPool, outlierDetection" in finding.message
        entry = fixed(text, "MG305")["spec"]["trafficPolicy"]["portLevelSettings"][0]
        assert entry["outlierDetection"] == {"consecutive5xxErrors": 5} and entry["connectionPool"][
            "tcp"
        ] == {"maxConnections": 1000}

    def test_port_entry_block_drops_fields(self) -> None:
        text = dr(
            TOP + "  portLevelSettings:\n  - port: {number: 8001}\n"
            "    connectionPool: {tcp: {maxConnections: 10}}  # <-"
        )
        assert lines_of(text, "MG305") == [(marked(text)[0], "warning")]

    def test_port_entry_drops_tunnel_proxy_protocol_and_retry_budget(self) -> None:
        text = dr(
            "trafficPolicy:\n  retryBudget: {percent: 20}\n"
            "  proxyProtocol: {version: V2}\n  portLevelSettings:\n"
            "  - port: {number: 8001}  # <-\n    loadBalancer: {simple: LEAST_REQUEST}"
        )
        finding = only(text, "MG305")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert "proxyProtocol, retryBudget" in finding.message and finding.fix is None

    def test_subset_port_entry_inherits_from_nothing(self) -> None:
        text = dr(
            "subsets:\n- name: v2\n  labels: {version: v2}\n  trafficPolicy:\n"
            "    outlierDetection: {consecutive5xxErrors: 5}\n"
            "    portLevelSettings:\n    - port: {number: 80}  # <-\n"
            "      loadBalancer: {simple: LEAST_REQUEST}"
        )
        finding = only(text, "MG305")
        assert (finding.position.line, finding.severity.value) == (marked(text)[0], "warning")
        assert "subset v2" in finding.message


# -------------------------------------------------------------------------------------------
# Hostile documents never crash a check
# -------------------------------------------------------------------------------------------
HOSTILE = [
    "spec: just-a-string",
    "spec: {host: 42, trafficPolicy: [1, 2]}",
    "spec: {host: x, trafficPolicy: {connectionPool: {tcp: 5, http: [1]}}}",
    "spec: {host: x, "
    "trafficPolicy: {connectionPool: {tcp: {maxConnections: '-1'}}, outlierDetection: x,"
    " loadBalancer: [1]}}",
    "spec: {host: x, trafficPolicy: {portLevelSettings: [1, x, {port: x}, "
    "{port: {number: x}}, null]}}",
    "spec: {host: x, subsets: [1, {name: a, trafficPolicy: x}, "
    "{trafficPolicy: {portLevelSettings: {a: 1}}}]}",
    "spec: {host: sklearn-predictor, "
    "trafficPolicy: {outlierDetection: {maxEjectionPercent: true, consecutiveErrors: null}}}",
    "spec: {host: sklearn-predictor, trafficPolicy: {loadBalancer: {simple: [1], "
    "consistentHash: null}, connectionPool: null}}",
    "spec: {host: '*', trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}}",
]


@pytest.mark.parametrize("spec", HOSTILE)
def test_hostile_documents_do_not_crash(spec: str) -> None:
    hostile_service = doc(
        """
        apiVersion: v1
        kind: Service
        metadata: {name: sklearn-predictor, namespace: ml-serving, ownerReferences: x}
        spec: {selector: {component: predictor}, ports: [1, {port: x, name: 5}, null]}
        """
    )
    hpa = doc(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
        "metadata: {name: h, namespace: ml-serving}\nspec: {scaleTargetRef: x, maxReplicas: x}"
    )
    text = (
        hpa
        + deployment(replicas="many")
        + hostile_service
        + doc(
            f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            f"metadata: {{name: d, namespace: ml-serving}}\n{spec}"
        )
    )
    result = lint_text(text, {"istio_version": "1.31", "enforce_profile_values": True})
    assert [f for f in result.findings if f.rule == "MG000"] == []
