"""Host names in Istio resources (P5), RULES.md §0.4.

``istio pilot/pkg/model/config.go: ResolveShortnameToFQDN`` is the whole rule: ``*`` and IP
addresses stay as written, and only a name **without any dot** is expanded to
``<name>.<namespace>.svc.<domain_suffix>``. A name with a dot (``reviews.prod``) is already
treated as fully qualified and is *not* expanded, so it never matches the Service
``reviews.prod.svc.cluster.local``.
"""

from __future__ import annotations

import ipaddress

DEFAULT_DOMAIN_SUFFIX = "cluster.local"


def _is_ip(text: str) -> bool:
    """netutil.IsValidIPAddress: netip.ParseAddr accepts IPv4, IPv6 and IPv6 with a zone."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalize_host(host: str, namespace: str, domain_suffix: str = DEFAULT_DOMAIN_SUFFIX) -> str:
    """P5: the host Istio routes on, lower-cased for comparison.

    Lower-casing is meshguard's addition (DNS names and Envoy virtual-host domains compare
    case-insensitively); the rest is ``ResolveShortnameToFQDN``, including its handling of an
    empty namespace or domain suffix (the part is left out).
    """
    # IPv4 addresses contain a dot and IPv6 ones a colon: only those need the parser.
    if host == "" or host == "*" or "." in host or (":" in host and _is_ip(host)):
        return host.lower()
    out = host
    if namespace:
        out += "." + namespace
    if domain_suffix:
        out += ".svc." + domain_suffix
    return out.lower()


def service_host(name: str, namespace: str, domain_suffix: str = DEFAULT_DOMAIN_SUFFIX) -> str:
    """Host of a Kubernetes Service: ``<name>.<namespace>.svc.<domain_suffix>``."""
    return f"{name}.{namespace}.svc.{domain_suffix}".lower()


def is_wildcard(host: str) -> bool:
    """``host.Name.IsWildCarded``: the name starts with ``*`` (``*`` or ``*.example.com``)."""
    return host.startswith("*")


def host_matches(pattern: str, host: str) -> bool:
    """``host.Name.Matches`` for a concrete ``host``: a wildcard matches by suffix.

    ``*`` covers everything; ``*.example.com`` covers ``a.example.com`` and ``a.b.example.com``
    but not ``example.com``. Compared lower-cased, like :func:`normalize_host`.
    """
    pattern, host = pattern.lower(), host.lower()
    if is_wildcard(pattern):
        return host.endswith(pattern[1:])
    return pattern == host
