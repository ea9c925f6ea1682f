"""Every sweep YAML (a sweep file, a stored sweep, a sweep record, a W&B run's parameters) is read and written here.

Such a file may come from anyone: a real one is a few kB of a few hundred values. ``read_yaml`` checks the limits
below on the parser's events before any Python object is built, so no file makes a sweep command hold more than a
few MB or take more than a moment; ``dump_yaml`` writes what ``read_yaml`` reads back (no anchors or aliases).

The parser may have limits of its own (libyaml refuses more than 1000 nested levels, and its scanner looks up to
1024 characters ahead, so it can trip before our depth check sees the 51st level): whichever layer trips first,
the message is ours and names our limit (``_check_prefix``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from snpdiff.errors import SweepError

MAX_YAML_BYTES = 1_000_000
MAX_YAML_NODES = 5_000  # scalars, lists and mappings
MAX_YAML_DEPTH = 50  # lists and mappings inside each other

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it: the same results
TOO_LARGE_HINT = "sweep a long range with a distribution (int_uniform, q_uniform, ...) rather than a values list"


class _NoAliasDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing a value that occurs twice out twice rather than as an anchor and an alias (which
    ``read_yaml`` refuses)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any, **options: Any) -> str:
    """``data`` as YAML text without anchors or aliases (``yaml.safe_dump``'s ``options``), so ``read_yaml`` reads it
    back."""
    return yaml.dump(data, Dumper=_NoAliasDumper, **options)


def _alias_error(where: str, line: int, event: yaml.AliasEvent, anchors: dict[str, int]) -> SweepError:
    marked = f" (marked at line {anchors[event.anchor]})" if event.anchor in anchors else ""
    return SweepError(f"{where}: line {line}: the YAML alias *{event.anchor} repeats the value of anchor "
                      f"&{event.anchor}{marked}; aliases are refused in sweep YAML, as aliases of aliases expand "
                      "exponentially (a 1 kB file can stand for 10^9 values): write the value out")


def _check_yaml_events(data: bytes | str, where: str) -> None:
    """SweepError when the YAML ``data`` (of ``where``) holds an alias or more than ``MAX_YAML_NODES`` values or
    ``MAX_YAML_DEPTH`` levels. Reads the parser's events only: nothing is built, so this costs no memory."""
    nodes = depth = 0
    anchors: dict[str, int] = {}
    for event in yaml.parse(data, Loader=_LOADER):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise _alias_error(where, line, event, anchors)
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if event.anchor:
                anchors[event.anchor] = line
            if nodes > MAX_YAML_NODES:
                raise SweepError(f"{where}: more than {MAX_YAML_NODES} YAML values, the last at line {line} (limit "
                                 f"{MAX_YAML_NODES}); {TOO_LARGE_HINT}")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise SweepError(f"{where}: lists or mappings nested more than {MAX_YAML_DEPTH} deep at line {line} "
                                 f"(limit {MAX_YAML_DEPTH})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_prefix(data: bytes, where: str, error: yaml.YAMLError) -> None:
    """Our limits on the text before the place where the parser refused ``data`` (``error``): a parser with a nesting
    limit of its own (libyaml's 1000 levels) refuses a deep file while scanning ahead, before its events reach our
    depth check; the text before that place holds those levels, so our check names our limit instead. Returns when
    that text is within our limits (the parser's error is then the one to report)."""
    mark = getattr(error, "problem_mark", None)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:  # another encoding: the parser's error stands
        return
    if mark is None or not 0 < mark.index <= len(text):
        return
    try:
        _check_yaml_events(text[: mark.index], where)
    except yaml.YAMLError:  # the text ends mid-document: within our limits up to there
        return


def read_yaml(path: str | Path, what: str = "sweep file") -> Any:
    """The YAML content of ``path``, ``what`` the sweep commands call it (a sweep file, a stored sweep, a sweep record,
    a W&B run's parameters), within ``MAX_YAML_BYTES``, ``MAX_YAML_NODES`` and ``MAX_YAML_DEPTH`` and without aliases
    (``_check_yaml_events``), checked before any Python object is built from it. SweepError naming ``what``, the file
    and the limit otherwise, and when the file cannot be read or is not YAML."""
    path = Path(path)
    where = f"{what} {path}"
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_YAML_BYTES + 1)  # never more: the file may be huge, or grow while it is read
    except OSError as exc:
        raise SweepError(f"cannot read {where}: {exc.strerror or exc}") from None
    if len(data) > MAX_YAML_BYTES:
        size = max(path.stat().st_size, len(data))
        raise SweepError(f"{where}: {size} bytes is too large for a sweep YAML (limit {MAX_YAML_BYTES} bytes); "
                         f"{TOO_LARGE_HINT}")
    try:
        _check_yaml_events(data, where)
        return yaml.load(data, Loader=_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        _check_prefix(data, where, exc)
        raise SweepError(f"{where} is not valid YAML: {exc}") from None
