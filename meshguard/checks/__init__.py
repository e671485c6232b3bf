"""Check modules, one per family; importing this package registers every check.

An explicit list (not a package walk) so the registry is the same on every machine.
"""

from meshguard.checks import authz, mtls, retries, routing  # noqa: F401
