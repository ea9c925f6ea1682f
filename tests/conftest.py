"""Suite-wide settings: one torch thread (2-core machines run several things at once), no W&B network."""

import os

import pytest
import torch

torch.set_num_threads(1)
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test sees a real W&B key or writes into the repository's own caches."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path_factory.mktemp("wandb")))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path_factory.mktemp("wandb_config")))
    monkeypatch.setenv("SNPDIFF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
