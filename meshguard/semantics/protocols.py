"""Service port protocol as Istio computes it.

Per `istio pkg/config/kube/conversion.go: ConvertProtocol`, Istio picks the L7 protocol from
`appProtocol` when present (it alone decides), else from the port name's prefix before `-`;
anything it does not recognise is sniffed ("unsupported").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# istio pkg/config/protocol/instance.go: Parse (case-insensitive)
KNOWN = frozenset(
    {
        "grpc",
        "grpc-web",
        "http",
        "http_proxy",
        "http2",
        "https",
        "tcp",
        "tls",
        "udp",
        "mongo",
        "redis",
        "mysql",
    }
)
SNIFFED = "unsupported"
HTTP_FAMILY = frozenset(
    {"http", "http_proxy", "http2", "grpc", "grpc-web", SNIFFED}
)  # MG408/MG105: sniffed may be HTTP
GRPC_CAPABLE = frozenset({"grpc", "http2", "grpc-web"})
_WELL_KNOWN_TCP_PORTS = frozenset({25, 53, 3306, 27017})
_K8S_APP_PROTOCOLS = {
    "kubernetes.io/h2c": "http2",
    "kubernetes.io/ws": "http",
    "kubernetes.io/wss": "https",
}


def port_protocol(port: Mapping[str, Any]) -> str:
    """Protocol of one Service `spec.ports[]` entry: a KNOWN value or "unsupported" (sniffed)."""
    if str(port.get("protocol", "TCP")).upper() == "UDP":
        return "udp"
    app_protocol = port.get("appProtocol")
    name = str(app_protocol) if app_protocol is not None else str(port.get("name") or "")
    if app_protocol is not None and name in _K8S_APP_PROTOCOLS:
        return _K8S_APP_PROTOCOLS[name]
    lowered = name.lower()
    if lowered.startswith("grpc-web"):
        return "grpc-web"
    prefix = lowered.split("-", 1)[0]
    if prefix in KNOWN:
        return prefix
    number = port.get("port")
    if isinstance(number, int) and number in _WELL_KNOWN_TCP_PORTS:
        return "tcp"
    return SNIFFED
