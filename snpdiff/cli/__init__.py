"""What the entry points share: one way to end on a user error (``exit``), the console's log routing and warning
filters (``console``), and the process's memory allocator settings (``allocator``)."""

from snpdiff.cli.exit import USER_ERROR_EXIT_CODE, checked, fail, run_hydra_app, run_or_exit, user_errors

__all__ = ["USER_ERROR_EXIT_CODE", "checked", "fail", "run_hydra_app", "run_or_exit", "user_errors"]
