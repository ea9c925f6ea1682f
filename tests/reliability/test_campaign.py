"""docs/reliability.md and the tests held to each other (``tests/reliability/campaign.py``): every row of its tables
is claimed by a test (``check_row(result, section, case)`` on a real CLI run, or the ``reliability_row`` marker), and
every claim names one row. Read statically from the test sources, so this costs no run."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.reliability.campaign import Row, _codes, check_row, row, rows, template

TESTS = Path(__file__).resolve().parents[1]


def claims() -> dict[tuple[str, str], list[str]]:
    """(section, case) -> the test files that claim it: each ``check_row(...)`` call and ``reliability_row(...)``
    marker whose last two arguments are string constants."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            args = node.args[-2:]
            if name in ("check_row", "reliability_row") and all(
                isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in args
            ) and len(args) == 2:  # fmt: skip
                key = (args[0].value, args[1].value)
                found.setdefault(key, []).append(str(path.relative_to(TESTS)))
    return found


def test_every_row_of_the_docs_is_a_test_case_and_every_claim_names_one_row():
    claimed = {row(section, case) for section, case in claims()}  # row() fails on a claim naming 0 or 2+ rows
    missing = [f"{found.section} | {found.case}" for found in rows() if found not in claimed]
    assert not missing, "docs/reliability.md rows no test checks:\n" + "\n".join(missing)


def test_the_docs_tables_parse_into_cases_with_outcomes():
    assert len(rows()) >= 90
    assert all(found.case and found.outcome for found in rows())
    signal_row = row("Training inputs", "SIGTERM / Ctrl-C")
    assert signal_row.exit_codes == {143, 130}
    checkpoint_row = row("Checkpoints given to generate.py", "path does not exist")
    assert checkpoint_row.exit_codes == {2} and checkpoint_row.quotes == (
        "is not a file; give a training run's checkpoints/last.ckpt",
    )


def test_a_row_check_fails_on_another_exit_status_or_message():
    """The check is not a formality: each way a run can differ from its row fails it."""
    example = Row("s", "c", "o", frozenset({2}), ("error: run folder <run> is in use by pid N; wait",))

    def run(code: int, stderr: str) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess([], code, "", stderr)

    assert example.matches("error: run folder /tmp/x/run is in use by pid 4711; wait")
    assert not example.matches("error: run folder /tmp/x/run is busy; wait")
    assert template("n=0 must be ... >= 1").search("error: n=0 must be an integer >= 1")
    real = row("Checkpoints given to generate.py", "path does not exist")
    line = "error: ckpt='/x.ckpt' is not a file; give a training run's checkpoints/last.ckpt"
    assert check_row(run(2, line + "\n"), real.section, real.case) == line
    for bad in (run(1, line), run(2, line + "\n" + line), run(2, "error: ckpt='/x.ckpt' is odd"),
                run(2, "Traceback (most recent call last):\n" + line)):  # fmt: skip
        with pytest.raises(AssertionError):
            check_row(bad, real.section, real.case)


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("exit 143 / 130 (was 0 / 1): `error: ...`", {143, 130}),
        ("the agent records the trial failed and exits 2 with that line", {2}),
        ("`error: guidance_scale=...`, exit 2 (nan was exit 0 with every genotype 0)", {2}),
        ("exit status 2, before the data loads (was: Hydra's error, exit 1)", {2}),
        ("runs, as `+trainer.limit_train_batches=3` would", set()),
    ],
)
def test_a_rows_exit_statuses_leave_out_what_happened_before_the_fix(text, codes):
    assert _codes(text) == codes
