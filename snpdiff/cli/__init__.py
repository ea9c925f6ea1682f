"""What the entry points share: one way to end on a user error (``exit``), the console's log routing and warning
filters (``console``), and the process's memory allocator settings (``memory``)."""

from snpdiff.cli.exit import USER_ERROR_EXIT_CODE, fail, run_or_exit, unknown_keys_as_user_errors, user_errors

__all__ = ["USER_ERROR_EXIT_CODE", "fail", "run_or_exit", "unknown_keys_as_user_errors", "user_errors"]
