"""Golden cases for ConvertProtocol (istio pkg/config/kube/conversion.go, conversion_test.go)."""

from __future__ import annotations

import pytest

from meshguard.semantics.protocols import port_protocol


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        ({"name": "http", "port": 80}, "http"),
        ({"name": "http-rest", "port": 8080}, "http"),
        ({"name": "HTTP2-api", "port": 8080}, "http2"),  # case-insensitive
        ({"name": "grpc", "port": 8081}, "grpc"),
        (
            {"name": "grpc-web-ui", "port": 8081},
            "grpc-web",
        ),  # grpc-web checked before the '-' split
        ({"name": "rest", "port": 8000}, "unsupported"),  # unknown prefix: sniffed
        (
            {"name": "http", "port": 8000, "appProtocol": "rest"},
            "unsupported",
        ),  # appProtocol alone decides
        ({"name": "rpc", "port": 8001, "appProtocol": "grpc"}, "grpc"),
        ({"name": "x", "port": 8001, "appProtocol": "kubernetes.io/h2c"}, "http2"),
        ({"name": "x", "port": 80, "appProtocol": "kubernetes.io/ws"}, "http"),
        ({"name": "x", "port": 443, "appProtocol": "kubernetes.io/wss"}, "https"),
        ({"name": "db", "port": 3306}, "tcp"),  # well-known port defaults to TCP
        ({"port": 53}, "tcp"),
        ({"port": 8080}, "unsupported"),
        ({"name": "dns", "port": 53, "protocol": "UDP"}, "udp"),
        ({"name": "https-x", "port": 443}, "https"),
        ({"name": "tls", "port": 443}, "tls"),
        ({"name": "redis", "port": 6379}, "redis"),
        ({"name": "http_proxy", "port": 3128}, "http_proxy"),
        ({"name": "hbone", "port": 15008}, "unsupported"),  # not a protocol.Parse name
        ({"name": "tcp", "port": 80, "appProtocol": "kubernetes.io/h2c"}, "http2"),
        ({"port": 27017}, "tcp"),
    ],
)
def test_port_protocol(port: dict[str, object], expected: str) -> None:
    assert port_protocol(port) == expected
