"""User-facing errors: one class per kind, each message one line naming its place.

`cli.main()` catches `MeshguardError` once, prints `meshguard: error: <msg>` and exits 2.
"""


class MeshguardError(Exception):
    """Base class; the message is shown to the user as is."""


class ConfigError(MeshguardError):
    """Bad `.meshguard.yaml`, `[tool.meshguard]` or command-line option."""


class RuleFileError(MeshguardError):
    """A rule file that does not validate against schemas/rule.schema.json."""


class InputError(MeshguardError):
    """An input path that cannot be read."""


class ClusterError(MeshguardError):
    """The Kubernetes API refused or could not be reached."""


class AdmissionError(MeshguardError):
    """A malformed AdmissionReview."""


class WriteError(MeshguardError):
    """`meshguard fix` could not write a file (each file is still fully old or fully new)."""
