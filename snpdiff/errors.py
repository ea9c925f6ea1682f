"""One exception type per domain. Each message names the key, file or value at fault and what is allowed."""


class SnpdiffError(Exception):
    """Base class for every error snpdiff raises on purpose."""


class ConfigError(SnpdiffError, ValueError):
    """A config key or value is unknown or invalid (raised before training starts)."""


class DataError(SnpdiffError, ValueError):
    """A genotype file or data selection is unusable (raised before training starts)."""


class SweepError(SnpdiffError, ValueError):
    """A sweep file, sweep id or sweep backend is unusable."""


class RunFolderError(SnpdiffError):
    """The run folder cannot be written (no space left) or another training run holds it (``RunLock``)."""
