"""The careless-input campaign as a table: every row of docs/reliability.md is a case the tests run.

The docs' tables are the expectations. A test that runs a row's case through the real CLI calls
``check_row(result, section, case)``: the run must end with the row's exit status (``exit N`` in the row, else its
section's), and where the row quotes an ``error: ...`` line (or, under a section whose errors share a prefix, a
fragment of one), the run's one ``error:`` line must match one of the row's quotations, their placeholders (``<path>``,
``N``, ``...``) standing for any text. A row whose outcome is not one line (a file kept byte-identical, a rebuilt
cache, a run that continues) is claimed with ``@pytest.mark.reliability_row(section, case)`` on the test that checks
it. ``tests/reliability/test_campaign.py`` then holds the docs and the tests to each other: every row is claimed by at
least one test, and every claim names a row that exists.

``section`` and ``case`` are the start of the section's heading and of the row's first cell, enough to name one row.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
PLACEHOLDER = re.compile(r"<[^>`]*>|\.\.\.|(?<![\w'])[A-Z](?![\w'])|\b[kKWSBL]\b")
EXIT = re.compile(r"\bexits?(?: status)? (\d+(?: / \d+)*)")  # "exit 143 / 130": either


@dataclass(frozen=True)
class Row:
    section: str  # the section's heading, without "## "
    case: str  # the first cell
    outcome: str  # the second cell
    exit_codes: frozenset[int]  # the row's "exit N", else its section's; empty: the row states none
    quotes: tuple[str, ...]  # the error lines (or fragments of one) the row quotes

    def matches(self, line: str) -> bool:
        """Whether ``line`` is one of the row's quoted error lines, placeholders standing for any text."""
        return any(template(quote).search(line) for quote in self.quotes)


def template(quote: str) -> re.Pattern:
    """A quotation from the docs as a pattern: its text literally, each placeholder any text."""
    parts = PLACEHOLDER.split(quote.strip())
    return re.compile(".*?".join(re.escape(part) for part in parts), re.DOTALL)


def _cells(line: str) -> list[str]:
    """The cells of a markdown table row (a ``|`` inside backticks is text, as in ``plink|vcf``)."""
    cells, current, quoted = [], "", False
    for char in line.strip()[1:]:
        if char == "`":
            quoted = not quoted
        if char == "|" and not quoted:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return cells


def _quotes(outcome: str, prefixed: bool) -> tuple[str, ...]:
    """The row's quoted error lines: backticked text starting ``error:``; under a section whose errors share a
    prefix, every backticked fragment of the outcome."""
    spans = re.findall(r"`([^`]+)`", outcome)
    errors = tuple(span for span in spans if span.startswith("error:"))
    return errors or (tuple(spans) if prefixed else ())


def _now(text: str) -> str:
    """``text`` without its asides that tell what happened before the fix: ``(was ...)``, ``(nan was exit 0 ...)``."""
    kept, depth, start = "", 0, 0
    for index, char in enumerate(text):
        if char == "(" and depth == 0 and re.match(r"\([^()]*\b(was|were)\b", text[index:]):
            kept, depth = kept + text[start:index], 1
        elif char == "(" and depth:
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            start = index + 1
    return kept + (text[start:] if depth == 0 else "")


def _codes(text: str) -> frozenset[int]:
    """The exit statuses ``text`` states (``exit 2``, ``exit status 2``, ``exit 143 / 130``), those of its ``(was
    ...)`` asides left out."""
    return frozenset(int(code) for found in EXIT.findall(_now(text)) for code in found.split(" / "))


@cache
def rows() -> tuple[Row, ...]:
    """Every case row of docs/reliability.md's tables, the exit-status table left out."""
    found: list[Row] = []
    section, section_exit, prefixed = "", frozenset(), False
    for line in DOCS.read_text().splitlines():
        if line.startswith("## "):
            section, section_exit, prefixed = line[3:].strip(), frozenset(), False
        elif section and not line.startswith("|") and line.strip():
            section_exit = section_exit | _codes(line)
            prefixed = prefixed or "Each is `error:" in line or "Each error is one `error:" in line
        elif section and line.startswith("| ") and not line.startswith(("| case |", "|---")):
            case, outcome = _cells(line)[:2]
            codes = _codes(outcome) or section_exit
            found.append(Row(section, case, outcome, codes, _quotes(outcome, prefixed)))
    return tuple(found)


def row(section: str, case: str) -> Row:
    """The one row whose section heading starts with ``section`` and whose case starts with ``case``."""
    hits = [found for found in rows() if found.section.startswith(section) and found.case.startswith(case)]
    assert len(hits) == 1, f"{len(hits)} rows of {DOCS.name} match section {section!r}, case {case!r}"
    return hits[0]


def check_row(result: subprocess.CompletedProcess, section: str, case: str) -> str | None:
    """``result`` (a real CLI run) ends as the docs' row says: its exit status, and when the row quotes an error,
    exactly one ``error:`` line, no traceback, matching a quotation. Returns that line (None when the row quotes
    none)."""
    expected = row(section, case)
    if expected.exit_codes:
        assert result.returncode in expected.exit_codes, (
            f"exit {result.returncode}, docs row says {sorted(expected.exit_codes)}: {expected.case}\n"
            + result.stderr[-3000:]
        )
    if not expected.quotes:  # quotes are error lines, or (a section whose errors share a prefix) fragments of one
        return None
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, f"expected one error: line, got {errors}"
    assert expected.matches(errors[0]), f"{errors[0]!r} matches none of the docs row's {expected.quotes}"
    return errors[0]
