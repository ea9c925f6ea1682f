"""Packages whose heavy names load on first use, so config validation does not import torch, Lightning or scipy."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: Mapping[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's module ``__getattr__`` and ``__dir__``: name ``n`` loads ``<package>.<exports[n]>`` when first used.

    ``namespace``: the package's ``globals()`` (its eager names). Declare the lazy names under ``if TYPE_CHECKING:``
    too, for type checkers and ``snpdiff.signatures``.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__
