"""Check modules, one per family (split by size); importing this package registers every check.

An explicit list (not a package walk) so the registry is the same on every machine.
"""

from meshguard.checks import (  # noqa: F401
    authz,  # MG105-MG108
    consistency,  # MG606-MG609
    gateway,  # MG501-MG505
    inference,  # MG506-MG509
    injection,  # MG401-MG405
    mtls,  # MG101-MG104
    proxyconfig,  # MG406-MG409
    references,  # MG601-MG605
    resilience,  # MG301-MG305
    retries,  # MG202, MG204, MG205
    routing,  # MG207-MG210
    timeouts,  # MG201, MG203, MG206
)
