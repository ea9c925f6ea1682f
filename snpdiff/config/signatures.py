"""Keyword parameters of a class or function read from its source file, without importing it.

Config validation needs the signatures of every ``_target_`` (snpdiff's models, torch's optimizers, Lightning's
callbacks); importing them costs seconds of torch and Lightning start-up before the first problem can be reported.
``read_signature`` parses the defining module instead (following re-exports and single inheritance) and gives the
same names, kinds, annotations and literal defaults that ``inspect``/``typing.get_type_hints`` would. Whatever it
cannot read statically (decorated classes, metaclasses, dynamic exports, names it cannot resolve) raises
``NotStatic``, and the caller imports the target instead: the answer is the same, only slower.
"""

from __future__ import annotations

import ast
import functools
import importlib.machinery
import importlib.util
import inspect
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# annotation names read as the types they name; any other name reads as Any (what the schema makes of a class)
_NAMED_TYPES: dict[str, Any] = {
    "int": int, "float": float, "bool": bool, "str": str, "bytes": bytes, "Path": Path, "None": type(None),
    "Any": Any, "list": list, "List": list, "tuple": tuple, "Tuple": tuple, "dict": dict, "Dict": dict,
    "Sequence": Sequence,
}
_MAX_HOPS = 12  # re-exports and base classes followed before giving up


class NotStatic(Exception):
    """The signature cannot be read from source alone; import the target instead."""


def _find_module(module: str) -> Path | None:
    """The ``.py`` file of a dotted module, found without importing it or its parent packages; None where there is
    no such module. Raises ``NotStatic`` for a module that is not Python source (an extension, a namespace)."""
    first, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(first)
    except (ImportError, ValueError) as exc:
        raise NotStatic(module) from exc
    for part in rest:
        if spec is None:
            return None
        if not spec.submodule_search_locations:
            raise NotStatic(module)
        spec = importlib.machinery.PathFinder.find_spec(part, list(spec.submodule_search_locations))
    if spec is None:
        return None
    if not spec.origin or not spec.origin.endswith(".py"):
        raise NotStatic(module)
    return Path(spec.origin)


def _module_file(module: str) -> Path:
    path = _find_module(module)
    if path is None:
        raise NotStatic(f"no module {module!r}")
    return path


@functools.cache
def _parse(module: str) -> tuple[ast.Module, bool]:
    """The module's syntax tree, and whether it is a package (``__init__.py``)."""
    path = _module_file(module)
    return ast.parse(path.read_text(encoding="utf-8"), str(path)), path.name == "__init__.py"


def _is_module(module: str) -> bool:
    try:
        _module_file(module)
    except NotStatic:
        return False
    return True


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from <node.module> import ...`` written in ``module``."""
    if not node.level:
        return node.module or ""
    _, is_package = _parse(module)
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _binds(module: str, statement: ast.stmt, name: str) -> bool:
    """Whether a statement of ``module`` inside an ``if``/``try``/``with`` block may bind ``name``."""
    for node in ast.walk(statement):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            if _star_binds(_absolute(module, node), name):
                return True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any((alias.asname or alias.name.split(".")[0]) == name for alias in node.names):
                return True
        if isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store):
            return True
    return False


def _star_binds(module: str, name: str) -> bool:
    """Whether ``from <module> import *`` may bind ``name`` (true where the source cannot tell)."""
    try:
        if _find_module(module) is None:  # an import that cannot run binds nothing (it sits behind a guard)
            return False
        tree, _ = _parse(module)
    except (NotStatic, OSError, SyntaxError):
        return True
    return any(_binds(module, statement, name) for statement in tree.body)


def _is_type_checking(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.If) and ast.unparse(statement.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _assigned_names(statement: ast.Assign) -> set[str]:
    """The plain names an assignment binds (``a = ...``, ``a, b = ...``)."""
    targets = [t for target in statement.targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
    return {t.id for t in targets if isinstance(t, ast.Name)}


def _binding(module: str, name: str) -> tuple[str, ast.AST | str]:
    """What ``name`` is bound to at the top level of ``module``: its definition (a ``ClassDef``/``FunctionDef``
    there), or the dotted name it was imported as. A package that loads its names on first use (a module
    ``__getattr__``) declares them with imports under ``if TYPE_CHECKING:``, which are read as its bindings."""
    tree, _ = _parse(module)
    found: ast.AST | str | None = None
    lazy: dict[str, str] = {}
    has_getattr = False
    for statement in tree.body:
        if isinstance(statement, (ast.ClassDef, ast.FunctionDef)) and statement.name == name:
            found = statement
        elif isinstance(statement, ast.FunctionDef) and statement.name == "__getattr__":
            has_getattr = True
        elif isinstance(statement, ast.Assign) and "__getattr__" in _assigned_names(statement):
            has_getattr = True  # `__getattr__, __dir__ = lazy_exports(...)` (snpdiff.lazy)
        elif isinstance(statement, ast.ImportFrom):
            for alias in statement.names:
                if alias.name == "*":
                    raise NotStatic(f"{module}: import *")
                if (alias.asname or alias.name) == name:
                    found = f"{_absolute(module, statement)}.{alias.name}"
        elif isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname == name:
                    found = alias.name
                elif alias.asname is None and alias.name.split(".")[0] == name:
                    found = name
        elif _is_type_checking(statement) and not statement.orelse:
            for node in statement.body:
                if isinstance(node, ast.ImportFrom):
                    lazy.update({alias.asname or alias.name: f"{_absolute(module, node)}.{alias.name}"
                                 for alias in node.names})
        elif isinstance(statement, (ast.If, ast.Try, ast.With, ast.Assign, ast.AnnAssign, ast.AugAssign)):
            if _binds(module, statement, name):
                raise NotStatic(f"{module}.{name} is bound conditionally or by assignment")
    if found is None and has_getattr and name in lazy:
        found = lazy[name]
    if found is None:
        raise NotStatic(f"{module}.{name} not found")
    return module, found


def _definition(target: str, hops: int = 0) -> tuple[str, ast.ClassDef | ast.FunctionDef]:
    """The module that defines ``target`` (``package.module.Name``) and its definition."""
    if hops > _MAX_HOPS:
        raise NotStatic(f"{target}: too many hops")
    module, _, name = target.rpartition(".")
    if not module or not _is_module(module):
        raise NotStatic(f"{target}: {module!r} is not a source module")
    module, found = _binding(module, name)
    if isinstance(found, str):
        return _definition(found, hops + 1)
    return module, found  # type: ignore[return-value]


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    raise NotStatic(f"base class {ast.unparse(node)!r}")


def _resolve(module: str, expression: ast.expr) -> str:
    """The absolute dotted name of a class named in ``module`` (``Base``, ``callbacks.ModelCheckpoint``)."""
    head, *attributes = _dotted(expression).split(".")
    _, found = _binding(module, head)
    base = f"{module}.{head}" if not isinstance(found, str) else found
    return ".".join([base, *attributes])


def _init_of(module: str, node: ast.ClassDef, hops: int = 0) -> tuple[str, ast.FunctionDef]:
    """The ``__init__`` a class uses: its own, or its single base class's (followed through the source)."""
    if hops > _MAX_HOPS or node.decorator_list or node.keywords:
        raise NotStatic(f"{node.name}: decorated, a metaclass, or too deep")
    methods = {item.name: item for item in node.body if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))}
    if "__new__" in methods or "__signature__" in methods:
        raise NotStatic(f"{node.name} defines __new__ or __signature__")
    if "__init__" in methods:
        return module, methods["__init__"]  # type: ignore[return-value]  (decorators keep it: functools.wraps)
    if len(node.bases) != 1:
        raise NotStatic(f"{node.name}: no __init__ and not exactly one base class")
    base_module, base = _definition(_resolve(module, node.bases[0]))
    if not isinstance(base, ast.ClassDef):
        raise NotStatic(f"{node.name}: base is not a class")
    return _init_of(base_module, base, hops + 1)


def _annotation(node: ast.expr | None) -> Any:
    """The type an annotation names, as far as config schemas care (unknown names read as ``Any``)."""
    if node is None:
        return Any
    if isinstance(node, ast.Constant):
        if node.value is None:
            return type(None)
        if node.value is Ellipsis:
            return Ellipsis
        if isinstance(node.value, str):
            try:
                return _annotation(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return Any
        return Any
    if isinstance(node, ast.Name):
        return _NAMED_TYPES.get(node.id, Any)
    if isinstance(node, ast.Attribute):  # typing.Optional, pathlib.Path, torch.Tensor
        value = node.value
        if isinstance(value, ast.Name) and value.id in ("typing", "t", "pathlib", "collections.abc"):
            return _NAMED_TYPES.get(node.attr, Any)
        return Any
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return typing.Union[_annotation(node.left), _annotation(node.right)]  # noqa: UP007
    if isinstance(node, ast.Subscript):
        base = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", None)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        args = tuple(_annotation(item) for item in items)
        if base == "Optional":
            return typing.Optional[args[0]]  # noqa: UP045
        if base == "Union":
            return typing.Union[args]  # noqa: UP007
        if base in ("list", "List") and len(args) == 1:
            return list[args[0]]
        if base in ("tuple", "Tuple"):
            return tuple[args]
        if base == "Sequence" and len(args) == 1:
            return Sequence[args[0]]
    return Any


_NO_LITERAL = object()  # a default that is not a literal (a call, a name): only its presence is known


def _default(node: ast.expr | None) -> Any:
    if node is None:
        return inspect.Parameter.empty
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return _NO_LITERAL


def has_literal_defaults(parameters: dict[str, inspect.Parameter]) -> bool:
    """Whether every default of a statically read signature is known (not only present)."""
    return all(parameter.default is not _NO_LITERAL for parameter in parameters.values())


@functools.cache
def read_signature(target: str) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """``target``'s named parameters (a class's ``__init__`` less ``self``), their annotations, and whether it
    takes ``**kwargs``, read from source. Raises ``NotStatic`` where only importing it can tell."""
    module, node = _definition(target)
    if isinstance(node, ast.ClassDef):
        module, node = _init_of(module, node)
        is_method = True
    else:
        is_method = False
    arguments = node.args
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    kinds = [inspect.Parameter.POSITIONAL_ONLY] * len(arguments.posonlyargs)
    kinds += [inspect.Parameter.POSITIONAL_OR_KEYWORD] * len(arguments.args)
    entries = list(zip(positional, defaults, kinds, strict=True))
    entries += [(arg, default, inspect.Parameter.KEYWORD_ONLY)
                for arg, default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)]
    if is_method:
        if not entries or entries[0][2] == inspect.Parameter.KEYWORD_ONLY:
            raise NotStatic(f"{target}: __init__ without self")
        entries = entries[1:]
    parameters: dict[str, inspect.Parameter] = {}
    hints: dict[str, Any] = {}
    for arg, default, kind in entries:
        parameters[arg.arg] = inspect.Parameter(arg.arg, kind, default=_default(default))
        if arg.annotation is not None:
            hints[arg.arg] = _annotation(arg.annotation)
    return parameters, hints, arguments.kwarg is not None
