"""Check modules, one per family (split by size).

Importing this package registers nothing: a lint run imports only the modules its input needs
(`registry.import_checks`, from each rule file's `check:`), and `register_all()` imports the
explicit list below (not a package walk, so the registry is the same on every machine).
"""

import importlib

MODULES = (
    "authz",  # MG105-MG108
    "batch",  # MG407
    "consistency",  # MG608, MG609
    "gateway",  # MG501-MG505
    "identity",  # MG603
    "inference",  # MG506-MG509
    "injection",  # MG401-MG405
    "mtls",  # MG101-MG104
    "outliers",  # MG303
    "pools",  # MG606, MG607
    "proxyconfig",  # MG406, MG408, MG409
    "references",  # MG601, MG602, MG604, MG605
    "resilience",  # MG301, MG302, MG304, MG305
    "retries",  # MG202, MG204, MG205
    "routing",  # MG207, MG208, MG210
    "timeouts",  # MG201, MG203, MG206
    "weights",  # MG209
)


def register_all() -> None:
    """Import every check module, filling `registry.CHECKS`."""
    for module in MODULES:
        importlib.import_module(f"meshguard.checks.{module}")
