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


class StorageFault(SweepError):
    """A sweep's storage refused a read or a write (a full disk, a lost database server): the agent ends its trial as
    failed where the storage still takes that, and stops with this one-line message. A ``SweepError``, so the sweep
    commands end with the same ``error: ...`` line as for any other unusable sweep."""
