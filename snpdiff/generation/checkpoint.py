"""Loading a training checkpoint for generation: an allow-list of classes with plain keyword values only."""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.data.types import SnpInfo
from snpdiff.diffusion import GaussianDiffusion
from snpdiff.errors import ConfigError
from snpdiff.models import MLPDenoiser, UNet1D

log = logging.getLogger(__name__)

# The only classes a checkpoint's stored config may name, per node: a checkpoint is input, not code. Each is built
# directly from plain keyword values; nothing in a checkpoint goes through Hydra's instantiate.
SAFE_TARGETS: dict[str, dict[str, type]] = {
    "model": {
        "snpdiff.models.UNet1D": UNet1D,
        "snpdiff.models.unet.UNet1D": UNet1D,
        "snpdiff.models.MLPDenoiser": MLPDenoiser,
        "snpdiff.models.mlp.MLPDenoiser": MLPDenoiser,
    },
    "diffusion": {
        "snpdiff.diffusion.GaussianDiffusion": GaussianDiffusion,
        "snpdiff.diffusion.process.GaussianDiffusion": GaussianDiffusion,
    },
}
_PLAIN_SCALARS = (int, float, bool, str, type(None))


def _is_plain(value: object) -> bool:
    """int, float, bool, str, None, or a list of them (``dim_mults``, ``kernel_sizes``)."""
    if isinstance(value, list | tuple):
        return all(isinstance(item, _PLAIN_SCALARS) for item in value)
    return isinstance(value, _PLAIN_SCALARS)


def plain_keywords(node: object, key: str) -> dict[str, Any]:
    """The keyword values of a stored config node, after checking each is plain; ConfigError naming ``key.<name>``
    otherwise (a nested mapping, such as a ``_target_`` node, or any other object). Hydra's ``_args_``,
    ``_partial_``, ``_recursive_``, ... are refused too: only the class's own keywords are passed."""
    if not isinstance(node, dict):
        raise ConfigError(f"{key} in the checkpoint is a {type(node).__name__}, not a mapping of keyword values")
    for name, value in node.items():
        if not isinstance(name, str) or name.startswith("_"):
            raise ConfigError(f"{key}.{name} in the checkpoint is not a keyword of the class; refusing to load it")
        if not _is_plain(value):
            raise ConfigError(
                f"{key}.{name} in the checkpoint is a {type(value).__name__}; only int, float, bool, str, None and "
                "lists of them are loaded (a checkpoint may not name code to run)"
            )
    return dict(node)


def safe_component(node: object, key: str) -> tuple[type, dict[str, Any]]:
    """The allow-listed class named by the stored config node ``key`` (``model``, ``diffusion``) and its checked
    plain keyword values; ConfigError naming the key otherwise."""
    if not isinstance(node, dict):
        raise ConfigError(f"{key} in the checkpoint is a {type(node).__name__}, not a config node")
    allowed = SAFE_TARGETS[key]
    target = node.get("_target_")
    if target not in allowed:
        raise ConfigError(
            f"{key}._target_={target!r} in the checkpoint is not one of snpdiff's classes; allowed: "
            f"{', '.join(allowed)}"
        )
    return allowed[target], plain_keywords({k: v for k, v in node.items() if k != "_target_"}, key)


def _build(component: tuple[type, dict[str, Any]], key: str, **passed: Any) -> Any:
    cls, keywords = component
    try:
        return cls(**keywords, **passed)
    except TypeError as exc:  # a keyword the class does not take
        raise ConfigError(f"{key} in the checkpoint does not fit {cls.__name__}: {exc}") from None


@dataclass
class TrainedModel:
    """Everything a checkpoint carries to generate without the original command line."""

    model: torch.nn.Module
    diffusion: GaussianDiffusion
    encoding: GenotypeEncoding
    snps: SnpInfo | None
    config: dict[str, Any]

    @property
    def seq_length(self) -> int:
        return int(self.model.seq_length)


def load_trained_model(ckpt_path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild model, diffusion and encoding from a training checkpoint.

    Loads with ``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickles. The
    stored config may only name the classes of ``SAFE_TARGETS`` with plain keyword values (``plain_keywords``):
    anything else is a ConfigError naming the key, raised before any object is built.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        raise ConfigError(f"ckpt={str(ckpt_path)!r} is not a file; give a training run's checkpoints/last.ckpt")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(
            f"ckpt={str(ckpt_path)!r} holds objects other than tensors and plain containers; refusing to unpickle "
            f"them (weights_only loading): {str(exc).splitlines()[0]}"
        ) from None
    info = checkpoint.get("snpdiff")
    if not info:
        raise ConfigError(f"ckpt={str(ckpt_path)!r} was not written by snpdiff's train.py (no 'snpdiff' entry)")
    config = info["config"]
    if not isinstance(config, dict):
        raise ConfigError(f"ckpt={str(ckpt_path)!r}: its stored config is a {type(config).__name__}, not a mapping")
    # every check before anything is built
    model_component = safe_component(config.get("model"), "model")
    diffusion_component = safe_component(config.get("diffusion"), "diffusion")
    encoding_keywords = plain_keywords(info.get("encoding"), "encoding")
    seq_length = info.get("seq_length")
    if not isinstance(seq_length, int) or isinstance(seq_length, bool):
        raise ConfigError(f"seq_length={seq_length!r} in the checkpoint is not an integer")
    model = _build(model_component, "model", seq_length=seq_length, in_channels=1)
    prefix = "model."
    model.load_state_dict({k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)})
    diffusion = _build(diffusion_component, "diffusion")
    encoding = GenotypeEncoding(**encoding_keywords)
    snps = SnpInfo.from_dict(info["snps"]) if info.get("snps") else None
    return TrainedModel(model.to(device).eval(), diffusion.to(device), encoding, snps, config)
