"""Pod templates the inventory finds in every controller kind, and its label indexes."""

from __future__ import annotations

import json
import random
import textwrap

import pytest

from meshguard.config import Config
from meshguard.inventory import Inventory, selector_matches, workloads_of
from meshguard.loader import load_text

JOBSET = """\
apiVersion: jobset.x-k8s.io/v1alpha2
kind: JobSet
metadata: {name: train, namespace: ml-training}
spec:
  replicatedJobs:
  - name: workers
    template:
      spec:
        template:
          metadata: {labels: {app: trainer}}
          spec: {containers: [{name: t, image: x}]}
"""
CRONJOB = """\
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: ml-training}
spec:
  jobTemplate:
    spec:
      template:
        metadata: {labels: {app: nightly}}
        spec: {containers: [{name: t, image: x}]}
"""
PYTORCHJOB = """\
apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: bert, namespace: ml-training}
spec:
  pytorchReplicaSpecs:
    Master: {template: {metadata: {labels: {role: master}}, spec: {containers: []}}}
    Worker: {template: {metadata: {labels: {role: worker}}, spec: {containers: []}}}
"""


@pytest.mark.parametrize(
    ("text", "pointers", "labels"),
    [
        (JOBSET, ["/spec/replicatedJobs/0/template/spec/template"], [{"app": "trainer"}]),
        (CRONJOB, ["/spec/jobTemplate/spec/template"], [{"app": "nightly"}]),
        (
            PYTORCHJOB,
            [
                "/spec/pytorchReplicaSpecs/Master/template",
                "/spec/pytorchReplicaSpecs/Worker/template",
            ],
            [{"role": "master"}, {"role": "worker"}],
        ),
    ],
)
def test_pod_templates(text: str, pointers: list[str], labels: list[dict[str, str]]) -> None:
    res = load_text(textwrap.dedent(text), "x.yaml").resources[0]
    found = workloads_of(res)
    assert [w.pointer for w in found] == pointers
    assert [dict(w.labels) for w in found] == labels


def _deployment(name: str, namespace: str, labels: dict[str, object]) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}, namespace: {namespace}}}
        spec:
          template:
            metadata: {{labels: {json.dumps(labels)}}}
            spec: {{containers: [{{name: c, image: x}}]}}
        """
    )


def _service(name: str, namespace: str, selector: dict[str, object]) -> str:
    return textwrap.dedent(
        f"""\
        apiVersion: v1
        kind: Service
        metadata: {{name: {name}, namespace: {namespace}}}
        spec: {{selector: {json.dumps(selector)}, ports: [{{port: 80}}]}}
        """
    )


def test_label_indexes_select_exactly_what_a_scan_selects() -> None:
    """workloads_selected and services_selecting use label indexes (O(selected), not
    O(namespace)); they must return what matching every workload would, in the same order."""
    rng = random.Random(7)
    values: list[object] = ["a", "b", 1, "1", True, "true"]
    docs = []
    for i in range(120):
        ns = rng.choice(["ml", "web"])
        labels = {
            k: rng.choice(values) for k in rng.sample(["app", "tier", "v"], rng.randint(0, 3))
        }
        docs.append(_deployment(f"d{i}", ns, labels))
    selectors = []
    for i in range(40):
        ns = rng.choice(["ml", "web"])
        selector = {
            k: rng.choice(values) for k in rng.sample(["app", "tier", "v"], rng.randint(1, 2))
        }
        selectors.append((ns, selector))
        docs.append(_service(f"s{i}", ns, selector))
    inventory = Inventory(load_text("---\n".join(docs), "x.yaml").resources, Config().params)
    for ns, selector in [*selectors, ("ml", {}), ("web", {"absent": "x"})]:
        scan = [w for w in inventory.workloads(ns) if selector_matches(selector, w.labels)]
        assert inventory.workloads_selected(ns, selector) == scan
    services = inventory.of_kind("", "Service")
    for ns in ("ml", "web"):
        for workload in inventory.workloads(ns):
            scan = [
                s
                for s in services
                if s.namespace == ns and selector_matches(s.spec["selector"], workload.labels)
            ]
            assert inventory.services_selecting(workload) == scan
