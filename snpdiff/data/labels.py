"""Population labels and sample ids in text files: what each file's fields can hold, and the one escape for the rest.

A population label is any text (``Han Chinese`` has a space). Fields that cannot hold every character:

- a ``.fam`` family id, where the PLINK writer puts a row's population: PLINK fields are split on whitespace, so
  whitespace, ``%``, control characters and a leading ``#`` are written as ``%XX``, the percent-encoding of their
  UTF-8 bytes (``Han Chinese`` -> ``Han%20Chinese``, ``50%`` -> ``50%25``); ``data.population_file=fam`` decodes
  them, and PLINK and plink2 carry the token through unchanged. Without labels the family id is the sample id,
  written the same way.
- the label column of ``<out>.populations.tsv`` (and of any population file): fields are split on tabs and lines on
  newlines, so tab, newline, other control characters and ``%`` are written as ``%XX``; the population file reader
  decodes ``%XX`` in labels.
- sample ids are never encoded (other tools match them against their own lists): an id that a format cannot hold
  (whitespace in a PLINK id; a tab, newline or other control character in a VCF sample name or a population table)
  is refused before anything is written. An empty id or label is refused in every text format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from urllib.parse import unquote

import numpy as np

from snpdiff.errors import DataError

# C0 and C1 control characters and the Unicode line and paragraph separators (which str.splitlines breaks on)
CONTROL = "\x00-\x1f\x7f-\x9f\u2028\u2029"
_CONTROL = re.compile(f"[{CONTROL}]")
_FAM_ESCAPED = re.compile(rf"[%\s{CONTROL}]")
_TSV_ESCAPED = re.compile(f"[%{CONTROL}]")
# what each text format's id fields cannot hold
PLINK_ID_FORBIDDEN = re.compile(rf"[\s{CONTROL}]")
TEXT_ID_FORBIDDEN = _CONTROL


def _percent(match: re.Match) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode())


def encode_fam_label(label: str) -> str:
    """A label as a ``.fam`` family id: whitespace, ``%`` and control characters as ``%XX``, and a leading ``#``
    as ``%23`` (plink2 reads a ``.fam`` line that starts with ``#`` as a comment)."""
    encoded = _FAM_ESCAPED.sub(_percent, label)
    return f"%23{encoded[1:]}" if encoded.startswith("#") else encoded


def encode_tsv_label(label: str) -> str:
    """A label as a population table's second field: ``%`` and control characters (tab, newline) as ``%XX``."""
    return _TSV_ESCAPED.sub(_percent, label)


def decode_label(text: str) -> str:
    """The label a ``.fam`` family id or a population table field holds (``%XX`` decoded; a ``%`` not followed by
    two hex digits stays as it is)."""
    return unquote(text) if "%" in text else text


def encode_labels(labels: np.ndarray, encode: Callable[[str], str]) -> np.ndarray:
    """``encode`` (``encode_fam_label`` or ``encode_tsv_label``) of each label, computed once per distinct label."""
    distinct, inverse = np.unique(np.asarray(labels, dtype=np.str_), return_inverse=True)
    return np.asarray([encode(label) for label in distinct.tolist()], dtype=np.str_)[inverse.reshape(-1)]


def decode_labels(labels: np.ndarray) -> np.ndarray:
    """``decode_label`` of each label (a str array)."""
    labels = np.asarray(labels, dtype=np.str_)
    if not np.char.count(labels, "%").any():
        return labels
    return np.asarray([decode_label(label) for label in labels.tolist()], dtype=np.str_)


def first_control_character(text: str) -> str | None:
    """The first control character (or line separator) in ``text``, or None."""
    match = _CONTROL.search(text)
    return None if match is None else match.group()


def check_fields(chunks: Iterable[np.ndarray], forbidden: re.Pattern | None, field: str, where: str) -> None:
    """DataError naming the first row whose ``field`` (chunks of a str array, in row order) is empty or holds a
    character matching ``forbidden`` (None: only empty is refused); ``where`` names the file (``"P.fam"``)."""
    offset = 0
    for chunk in chunks:
        values = np.asarray(chunk, dtype=np.str_).tolist()
        if "" in values:
            row = offset + values.index("")
            raise DataError(f"{where}: the {field} of row {row} is empty, which {where} cannot hold")
        # one search over the joined chunk; the row is looked for only when it finds something
        if forbidden is not None and forbidden.search("".join(values)):
            row = next(i for i, value in enumerate(values) if forbidden.search(value))
            character = forbidden.search(values[row]).group()
            raise DataError(
                f"{where}: {field} {values[row]!r} (row {offset + row}) holds {character!r}, which {where} cannot "
                f"hold in a {field}; rename it (ids are written as they are: other tools match them)"
            )
        offset += len(values)
