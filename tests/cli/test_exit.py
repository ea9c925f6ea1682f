"""``run_hydra_app``: a ``@hydra.main`` app's composition errors read through Hydra's documented
``HYDRA_FULL_ERROR`` switch, no private Hydra API (in process, on an empty config)."""

import os
import sys

import hydra
import pytest

from snpdiff.cli import USER_ERROR_EXIT_CODE, run_hydra_app


@hydra.main(version_base="1.3", config_path=None)
def app(cfg) -> None:
    print(f"ran with {sorted(cfg)}")


def run(monkeypatch, tmp_path, *overrides: str) -> None:
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setattr(sys, "argv", ["app", *overrides, f"hydra.run.dir={tmp_path}"])
    run_hydra_app(app, "app")


def test_an_unknown_key_is_one_user_error_line(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as ended:
        run(monkeypatch, tmp_path, "no_such_key=1")
    assert ended.value.code == USER_ERROR_EXIT_CODE
    assert capsys.readouterr().err == "error: unknown key 'no_such_key' for conf/app.yaml; allowed: \n"
    assert "HYDRA_FULL_ERROR" not in os.environ  # as it was before


def test_other_composition_errors_keep_hydras_short_report(monkeypatch, tmp_path, capsys):
    with pytest.raises(SystemExit) as ended:
        run(monkeypatch, tmp_path, "hydra/launcher=nonexistent")
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert "hydra/launcher/nonexistent" in err and "Traceback" not in err


def test_a_valid_command_runs_the_app(monkeypatch, tmp_path, capsys):
    run(monkeypatch, tmp_path, "+seed=3")
    assert "ran with ['seed']" in capsys.readouterr().out


def test_only_a_target_hydra_refuses_or_cannot_import_is_a_user_error():
    from hydra.errors import InstantiationException

    from snpdiff.cli.exit import refused_target_message

    refused = InstantiationException("Target 'os.remove' is blocklisted and cannot be\ninstantiated\nfull_key: x.y")
    assert refused_target_message(refused) == (
        "cannot build x.y from the config: Target 'os.remove' is blocklisted and cannot be instantiated"
    )
    missing = InstantiationException("Error locating target 'nowhere.Thing'\nfull_key: logger.z")
    missing.__cause__ = ImportError("No module named 'nowhere'")
    assert refused_target_message(missing).startswith("cannot build logger.z from the config: Error locating")
    constructor = InstantiationException("Error in call to target 'lightning.pytorch.Trainer'")
    constructor.__cause__ = ValueError("a bug, or a value no rule checks")
    assert refused_target_message(constructor) is None  # keeps its traceback
