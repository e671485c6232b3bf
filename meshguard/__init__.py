"""meshguard: service-mesh best practice for ML serving, as a linter, a fixer and a webhook."""

__version__ = "0.1.0"
