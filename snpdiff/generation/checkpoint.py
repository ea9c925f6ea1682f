"""Loading a training checkpoint for generation: an allow-list of classes with plain keyword values only."""

from __future__ import annotations

import logging
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.data.types import SnpInfo
from snpdiff.diffusion import GaussianDiffusion
from snpdiff.errors import ConfigError
from snpdiff.models import MODELS, ModelInputs
from snpdiff.run_folder import LAST_CHECKPOINT, last_checkpoint

log = logging.getLogger(__name__)

# The only classes a checkpoint's stored config may name, per node: a checkpoint is input, not code. Each is built
# directly from plain keyword values; nothing in a checkpoint goes through Hydra's instantiate. The models are the
# rows of snpdiff.models.MODELS, under either name a config may give them.
SAFE_TARGETS: dict[str, dict[str, type]] = {
    "model": {target: kind.load() for kind in MODELS for target in kind.targets},
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
    # the population labels a conditioned model knows, sorted (the model's class indices), and each label's share
    # of the training rows; None for a model trained without labels
    population_names: tuple[str, ...] | None = None
    population_shares: tuple[float, ...] | None = None

    @property
    def seq_length(self) -> int:
        return int(self.model.seq_length)

    def population_index(self, population: str) -> int:
        """The model's class index of ``population``; ConfigError naming the known labels otherwise."""
        if self.population_names is None:
            raise ConfigError(
                f"population={population!r}: this checkpoint was trained without population labels (its data had "
                "none, or data.population_labels=false); leave population out"
            )
        if str(population) not in self.population_names:
            raise ConfigError(
                f"population={population!r} is not a label this checkpoint knows; allowed: "
                f"{', '.join(self.population_names)}"
            )
        return self.population_names.index(str(population))


def torch_device(name: str) -> torch.device:
    """The device ``name`` (``cpu``, ``cuda``, ``cuda:<index>``), once this torch can use it; a ConfigError naming
    ``device=`` and what is allowed otherwise (checked before a checkpoint is read)."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ConfigError(f"device={name!r} is not a device to sample on; allowed: cpu, cuda, cuda:<index>")
    count = torch.cuda.device_count() if device.type == "cuda" and torch.cuda.is_available() else 0
    if device.type == "cuda" and not count:
        why = "this torch was built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
        raise ConfigError(f"device={name!r} is not available: {why} (torch {torch.__version__}); use device=cpu")
    if device.index is not None and device.type == "cuda" and device.index >= count:
        raise ConfigError(
            f"device={name!r} is not available: {count} CUDA device(s) visible, cuda:0 to cuda:{count - 1}"
        )
    return device


def load_trained_model(ckpt_path: str | Path, device: str | torch.device = "cpu") -> TrainedModel:
    """Rebuild model, diffusion and encoding from a training checkpoint.

    Loads with ``torch.load(weights_only=True)``: tensors and plain containers only, never arbitrary pickles. The
    stored config may only name the classes of ``SAFE_TARGETS`` with plain keyword values (``plain_keywords``).
    Every fault of the file is a ConfigError ``ckpt=<path> <what is wrong>; <what is expected>``: not a file, not a
    checkpoint, truncated or corrupt, not written by snpdiff, marked diverged by training, weights that do not fit
    the stored config or that hold NaN/Inf. All are raised before sampling starts.
    """
    path = Path(ckpt_path)
    where = f"ckpt={str(ckpt_path)!r}"
    checkpoint = _read(path, where)
    info, weights = _snpdiff_parts(checkpoint, where)
    try:  # every check of the stored config before anything is built
        config = info.get("config")
        if not isinstance(config, dict):
            raise ConfigError(f"its stored config is a {type(config).__name__}, not a mapping")
        model_component = safe_component(config.get("model"), "model")
        diffusion_component = safe_component(config.get("diffusion"), "diffusion")
        encoding_component = (GenotypeEncoding, plain_keywords(info.get("encoding"), "encoding"))
        seq_length = info.get("seq_length")
        if not isinstance(seq_length, int) or isinstance(seq_length, bool):
            raise ConfigError(f"seq_length={seq_length!r} in the checkpoint is not an integer")
        names, shares = _populations(info.get("populations"))
        encoding = _build(encoding_component, "encoding")
        inputs = ModelInputs(seq_length, encoding.channels, names)
        model = _build(model_component, "model", **inputs.keywords())
        diffusion = _build(diffusion_component, "diffusion")
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    _check_weights(model, weights, where)
    model.load_state_dict(weights)
    snps = SnpInfo.from_dict(info["snps"]) if info.get("snps") else None
    return TrainedModel(model.to(device).eval(), diffusion.to(device), encoding, snps, config, names, shares)


def _populations(node: object) -> tuple[tuple[str, ...] | None, tuple[float, ...] | None]:
    """The stored ``{"names": [...], "shares": [...]}`` of a conditioned model (plain values only), or Nones."""
    if node is None:
        return None, None
    entry = plain_keywords(node, "populations")
    names, shares = entry.get("names"), entry.get("shares")
    if (
        not isinstance(names, list | tuple)
        or not names
        or not all(isinstance(name, str) for name in names)
        or not isinstance(shares, list | tuple)
        or len(shares) != len(names)
        or not all(isinstance(share, int | float) and share >= 0 for share in shares)
    ):
        raise ConfigError("populations in the checkpoint must hold 'names' (labels) and 'shares' (one number each)")
    return tuple(names), tuple(float(share) for share in shares)


EXPECTED = "give a checkpoint that snpdiff's train.py wrote, such as <run>/checkpoints/last.ckpt"
_ZIP_HEADER = b"PK\x03\x04"  # torch.save's format since 1.6: a zip archive holding <name>/data.pkl and tensors
_LEGACY_HEADER = pickle.dumps(torch.serialization.MAGIC_NUMBER, protocol=2)  # the format before it: pickles


def _read(path: Path, where: str) -> Any:
    """``torch.load`` of ``path`` with weights-only unpickling; a ConfigError saying what the file is otherwise."""
    if path.is_dir():
        inside = [c for c in (last_checkpoint(path), path / LAST_CHECKPOINT) if c.is_file()]
        hint = f"give a checkpoint file such as {str(inside[0])!r}" if inside else EXPECTED
        raise ConfigError(f"{where} is a directory, not a checkpoint file; {hint}")
    if not path.is_file():
        raise ConfigError(f"{where} is not a file; give a training run's checkpoints/last.ckpt")
    with path.open("rb") as file:
        head = file.read(len(_LEGACY_HEADER))
    if not head:
        raise ConfigError(f"{where} is empty (0 bytes), truncated or corrupt; {EXPECTED}")
    if not head.startswith(_ZIP_HEADER) and head != _LEGACY_HEADER:
        raise ConfigError(f"{where} is not a PyTorch checkpoint ({_describe(path, head)}); {EXPECTED}")
    if head.startswith(_ZIP_HEADER) and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if not any(name.endswith("/data.pkl") for name in archive.namelist()):
                raise ConfigError(f"{where} is a zip archive but not a PyTorch checkpoint (no data.pkl); {EXPECTED}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)  # moved to `device` once checked
    except pickle.UnpicklingError as exc:
        refused = re.search(r"GLOBAL (\S+) was not an allowed global", str(exc))
        if refused:
            raise ConfigError(
                f"{where} holds a {refused.group(1)} object, not only tensors and plain containers; refusing to "
                f"unpickle it (weights_only loading); {EXPECTED}"
            ) from None
        raise ConfigError(f"{where} is truncated or corrupt (its pickle is unreadable); {EXPECTED}") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:  # torch's zip and pickle readers
        reason = str(exc).split(". ")[0].strip() or type(exc).__name__
        raise ConfigError(f"{where} is truncated or corrupt ({reason}); copy it again, or {EXPECTED}") from None


def _describe(path: Path, head: bytes) -> str:
    """What a file that is no checkpoint looks like: its first text line, a Python pickle or unknown bytes."""
    if head.startswith(b"\x80"):
        return "a Python pickle that torch.save did not write"
    with path.open("rb") as file:
        start = file.read(4096)
    try:
        first_line = start.decode().strip().splitlines()[0] if start.strip() else ""
    except UnicodeDecodeError:
        return f"unknown binary data starting {head[:8]!r}"
    return f"a text file starting {first_line[:60]!r}"


def _snpdiff_parts(checkpoint: Any, where: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The ``snpdiff`` entry train.py adds to a Lightning checkpoint and the model's weights (``model.`` prefix
    removed); a ConfigError for anything else, and for a checkpoint that training marked as diverged."""
    if not isinstance(checkpoint, dict):
        raise ConfigError(f"{where} holds a {type(checkpoint).__name__}, not a training checkpoint; {EXPECTED}")
    info = checkpoint.get("snpdiff")
    if not isinstance(info, dict):
        keys = ", ".join(map(str, list(checkpoint)[:5])) + (", ..." if len(checkpoint) > 5 else "")
        found = "no 'snpdiff' entry" if info is None else f"its 'snpdiff' entry is a {type(info).__name__}"
        raise ConfigError(f"{where} was not written by snpdiff's train.py ({found}; keys: {keys}); {EXPECTED}")
    diverged = info.get("diverged")
    if diverged:
        facts = diverged if isinstance(diverged, dict) else {}
        details = ", ".join(f"{key} {facts[key]}" for key in ("epoch", "loss", "lr") if key in facts)
        raise ConfigError(
            f"{where} was saved after its run diverged at step {facts.get('step', '?')}"
            + (f" ({details})" if details else "")
            + f"; use a checkpoint saved before step {facts.get('step', '?')}"
        )
    state = checkpoint.get("state_dict")
    if not isinstance(state, dict):
        found = "no 'state_dict' entry" if state is None else f"a {type(state).__name__} as 'state_dict'"
        raise ConfigError(f"{where} has {found}; expected the model weights that train.py saves beside the config")
    prefix = "model."
    return info, {key[len(prefix) :]: value for key, value in state.items() if str(key).startswith(prefix)}


def _check_weights(model: torch.nn.Module, weights: dict[str, Any], where: str) -> None:
    """ConfigError unless ``weights`` fit ``model`` key for key and shape for shape and are all finite: the stored
    config must build the model the weights were trained in, and a diverged run's weights sample only noise."""
    expected = model.state_dict()
    fit = "the weights do not fit the model its stored config builds"
    hint = "expected the config the weights were trained with (was the stored config edited?)"
    missing = [name for name in expected if name not in weights]
    unexpected = [name for name in weights if name not in expected]
    for kind, names in (("lack", missing), ("hold unknown", unexpected)):
        if names:
            listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            raise ConfigError(f"{where}: {fit}: they {kind} parameters {listed}; {hint}")
    for name, tensor in weights.items():
        if not isinstance(tensor, torch.Tensor):
            raise ConfigError(f"{where}: weight {name} is a {type(tensor).__name__}, not a tensor; {EXPECTED}")
        if tensor.shape != expected[name].shape:
            raise ConfigError(
                f"{where}: {fit}: {name} is {list(tensor.shape)} in the checkpoint but {list(expected[name].shape)} "
                f"in the model; {hint}"
            )
    bad = {
        name: (int((~torch.isfinite(tensor)).sum()), tensor.numel())
        for name, tensor in weights.items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    }
    if bad:
        name, (count, size) = next(iter(bad.items()))
        more = f", and {len(bad) - 1} more parameters" if len(bad) > 1 else ""
        raise ConfigError(
            f"{where} holds non-finite weights ({count} of {size} values in {name}{more}); the run diverged — "
            "use an earlier checkpoint"
        )
