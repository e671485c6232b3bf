"""A generator of realistic ML-serving manifests for benchmarks and property tests.

Each "model" is what a platform team keeps in Git for one served model: a KServe
InferenceService or a vLLM Deployment with its Service, Istio VirtualService and
DestinationRule, an AuthorizationPolicy, and for LLMs a Gateway API HTTPRoute and an
InferencePool; namespaces get a PeerAuthentication and a default-deny policy. Files are
multi-document with comments, like a GitOps repository. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from pathlib import Path

_NAMESPACE = """\
# Namespace {ns}: ML serving, sidecar-injected, STRICT mTLS and default deny.
apiVersion: v1
kind: Namespace
metadata:
  name: {ns}
  labels:
    istio-injection: enabled
    meshguard.io/ml: "true"
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: {ns}
spec:
  mtls:
    mode: STRICT
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-nothing
  namespace: {ns}
spec: {{}}
"""

_KSERVE = """\
# {name}: a KServe predictor ({runtime}), served through the mesh gateway.
apiVersion: serving.kserve.io/v1beta1
kind: InferenceService
metadata:
  name: {name}
  namespace: {ns}
  labels:
    team: ml-platform
    model-version: v{version}
  annotations:
    serving.kserve.io/deploymentMode: RawDeployment
    sidecar.istio.io/proxyCPU: "100m"
    sidecar.istio.io/proxyMemory: "256Mi"
    sidecar.istio.io/proxyCPULimit: "500m"
    sidecar.istio.io/proxyMemoryLimit: "512Mi"
spec:
  predictor:
    minReplicas: {replicas}
    maxReplicas: 8
    serviceAccountName: model-reader
    model:
      modelFormat: {{name: {runtime}}}
      storageUri: gs://models/{name}/v{version}
      env:
      - name: MODEL_NAME
        value: {name}
      - name: OMP_NUM_THREADS
        value: "2"
      readinessProbe:
        httpGet: {{path: /v2/health/ready, port: 8080}}
        periodSeconds: 5
      resources:
        requests: {{cpu: "2", memory: 4Gi}}
        limits: {{cpu: "4", memory: 8Gi}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector:
    serving.kserve.io/inferenceservice: {name}
  ports:
  - name: http-rest      # KServe V1/V2 REST
    port: 80
    targetPort: 8080
    appProtocol: http
  - name: grpc           # Open Inference Protocol
    port: 8081
    appProtocol: grpc
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: {name}
  namespace: {ns}
spec:
  hosts:
  - {name}.{ns}.svc.cluster.local
  http:
  - match:
    - headers:
        x-model-version:
          exact: "v{version}"
    route:
    - destination:
        host: {name}.{ns}.svc.cluster.local
        port: {{number: 80}}
    timeout: {timeout}s
    retries:
      attempts: {attempts}
      perTryTimeout: {per_try}s
      retryOn: connect-failure,refused-stream,unavailable
  - route:              # canary split
    - destination: {{host: {name}.{ns}.svc.cluster.local, port: {{number: 80}}}}
      weight: 90
    - destination: {{host: {name}.{ns}.svc.cluster.local, port: {{number: 80}}}}
      weight: 10
    timeout: 30s
    retries:
      attempts: 2
      perTryTimeout: 10s
      retryOn: connect-failure,refused-stream,unavailable
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: {name}
  namespace: {ns}
spec:
  host: {name}.{ns}.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {{maxConnections: 1000}}
      http:
        http1MaxPendingRequests: 1000
        http2MaxRequests: 1000
        maxRequestsPerConnection: 100
        h2UpgradePolicy: UPGRADE
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 30s
      baseEjectionTime: 60s
      maxEjectionPercent: 50
    loadBalancer: {{simple: LEAST_REQUEST}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-{name}
  namespace: {ns}
spec:
  selector:
    matchLabels:
      serving.kserve.io/inferenceservice: {name}
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/istio-ingress/sa/ml-gateway-istio"]
    to:
    - operation:
        methods: ["POST", "GET"]
        paths: ["/v1/models/*", "/v2/models/*", "/inference.GRPCInferenceService/*"]
"""

_VLLM = """\
# {name}: an OpenAI-compatible vLLM server behind an InferencePool.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
  labels: {{app: {name}}}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations:
        sidecar.istio.io/proxyCPU: "100m"
        sidecar.istio.io/proxyMemory: "256Mi"
        sidecar.istio.io/proxyCPULimit: "500m"
        sidecar.istio.io/proxyMemoryLimit: "512Mi"
    spec:
      serviceAccountName: {name}
      terminationGracePeriodSeconds: 120
      nodeSelector:
        nvidia.com/gpu.product: NVIDIA-L4
      tolerations:
      - key: nvidia.com/gpu
        operator: Exists
        effect: NoSchedule
      containers:
      - name: vllm
        image: vllm/vllm-openai:v0.{version}.0
        args:
        - --model=meta-llama/Llama-3.1-8B-Instruct
        - --port=8000
        - --max-model-len=8192
        - --gpu-memory-utilization=0.90
        - --enable-prefix-caching
        env:
        - name: HF_TOKEN
          valueFrom:
            secretKeyRef: {{name: hf-token, key: token}}
        - name: VLLM_LOGGING_LEVEL
          value: INFO
        - name: POD_NAME
          valueFrom:
            fieldRef: {{fieldPath: metadata.name}}
        ports:
        - {{name: http, containerPort: 8000}}
        readinessProbe:
          httpGet: {{path: /health, port: 8000}}
          periodSeconds: 5
          failureThreshold: 3
        livenessProbe:
          httpGet: {{path: /health, port: 8000}}
          initialDelaySeconds: 120
          periodSeconds: 10
        startupProbe:
          httpGet: {{path: /health, port: 8000}}
          failureThreshold: 60
          periodSeconds: 10
        resources:
          requests: {{cpu: "8", memory: 32Gi, nvidia.com/gpu: 1}}
          limits: {{cpu: "8", memory: 32Gi, nvidia.com/gpu: 1}}
        volumeMounts:
        - {{name: model-cache, mountPath: /root/.cache/huggingface}}
        - {{name: shm, mountPath: /dev/shm}}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {{drop: [ALL]}}
      volumes:
      - name: model-cache
        persistentVolumeClaim: {{claimName: {name}-cache}}
      - name: shm
        emptyDir: {{medium: Memory, sizeLimit: 8Gi}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}
  namespace: {ns}
spec:
  selector: {{app: {name}}}
  ports:
  - {{name: http, port: 8000, appProtocol: http}}
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: {name}-pool
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  targetPorts:
  - number: 8000
  endpointPickerRef:
    name: {name}-epp
    port: {{number: 9002}}
    failureMode: FailClose
---
# The endpoint picker (EPP) of the pool: injected, plaintext gRPC inside the mesh.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}-epp
  namespace: {ns}
spec:
  replicas: 2
  selector:
    matchLabels: {{app: {name}-epp}}
  template:
    metadata:
      labels: {{app: {name}-epp}}
    spec:
      serviceAccountName: {name}-epp
      containers:
      - name: epp
        image: registry.k8s.io/gateway-api-inference-extension/epp:v1.0.0
        args: ["--pool-name={name}-pool", "--pool-namespace={ns}", "--secure-serving=false"]
        ports:
        - {{name: grpc, containerPort: 9002}}
        - {{name: http-metrics, containerPort: 9090}}
---
apiVersion: v1
kind: Service
metadata:
  name: {name}-epp
  namespace: {ns}
spec:
  selector: {{app: {name}-epp}}
  ports:
  - {{name: grpc-ext-proc, port: 9002, appProtocol: http2}}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: allow-{name}
  namespace: {ns}
spec:
  selector:
    matchLabels: {{app: {name}}}
  action: ALLOW
  rules:
  - from:
    - source: {{principals: ["cluster.local/ns/istio-ingress/sa/ml-gateway-istio"]}}
    to:
    - operation: {{methods: ["POST"], paths: ["/v1/chat/completions", "/v1/completions"]}}
  - from:
    - source: {{principals: ["cluster.local/ns/{ns}/sa/{name}-epp"]}}
    to:
    - operation: {{methods: ["GET"], paths: ["/metrics"]}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {name}
  namespace: {ns}
spec:
  parentRefs:
  - name: ml-gateway
    namespace: istio-ingress
  rules:
  - matches:
    - path: {{type: PathPrefix, value: /v1/chat/completions}}
    backendRefs:
    - group: inference.networking.k8s.io
      kind: InferencePool
      name: {name}-pool
    timeouts:
      request: 300s
"""


_GATEWAY = """\
# The shared ingress gateway of the ML platform (Gateway API, Istio class).
apiVersion: v1
kind: Namespace
metadata:
  name: istio-ingress
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: ml-gateway
  namespace: istio-ingress
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    port: 443
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs: [{name: ml-gateway-cert}]
    allowedRoutes:
      namespaces: {from: All}
"""


def generate(directory: Path, documents: int, *, seed: int = 7, docs_per_file: int = 10) -> int:
    """Write about `documents` Kubernetes documents into `directory`; return the number written."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "gateway.yaml").write_text(_GATEWAY, encoding="utf-8")
    written = 2
    file_index = 0
    ns_index = 0
    while written < documents:
        ns = f"ml-team-{ns_index}"
        ns_index += 1
        chunks = [_NAMESPACE.format(ns=ns)]
        count = 3
        while count < docs_per_file and written + count < documents:
            name = f"model-{file_index}-{count}"
            if rng.random() < 0.6:
                # Most routes fit their timeout; about one in eight does not (MG204).
                good = rng.random() < 0.875
                chunks.append(
                    _KSERVE.format(
                        name=name,
                        ns=ns,
                        runtime=rng.choice(["sklearn", "xgboost", "pytorch", "triton"]),
                        replicas=rng.choice([2, 3]),
                        version=rng.randint(1, 9),
                        timeout=30 if good else 60,
                        attempts=2 if good else 3,
                        per_try=10 if good else 20,
                    )
                )
                count += 5
            else:
                chunks.append(
                    _VLLM.format(
                        name=name, ns=ns, replicas=rng.choice([2, 4]), version=rng.randint(4, 9)
                    )
                )
                count += 7
        (directory / f"team-{file_index:05d}.yaml").write_text(
            "---\n".join(chunks), encoding="utf-8"
        )
        written += count
        file_index += 1
    return written
