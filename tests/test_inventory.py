"""Pod templates the inventory finds in every controller kind."""

from __future__ import annotations

import textwrap

import pytest

from meshguard.inventory import workloads_of
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
