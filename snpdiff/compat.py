"""Every private API of Hydra, OmegaConf, Lightning and Optuna that snpdiff relies on, each behind one named function.

These are the places a new release of a dependency can break without notice. Each entry says what it uses and
why there is no public way; ``tests/test_compat.py`` has a test per entry that fails on a release that removes or
changes it. ``pyproject.toml``'s floors are the oldest releases these entries are known to hold for.

| entry                          | library    | private part used                                              |
|--------------------------------|------------|----------------------------------------------------------------|
| ``quote_override``             | Hydra      | ``hydra.core.override_parser.types.QuotedString``              |
| ``raw_value``                  | OmegaConf  | ``DictConfig._get_node(key)._value()``                         |
| ``interpolation_references``   | OmegaConf  | ``omegaconf.grammar_parser.parse`` and its parse tree          |
| ``TOPK_CHECKPOINT_HOOK``       | Lightning  | ``ModelCheckpoint._save_topk_checkpoint`` (overridden)         |
| ``use_multi_avg_fn``           | Lightning  | ``WeightAveraging._kwargs``                                    |
| ``forget_logged_metrics``      | Lightning  | ``trainer.callback_metrics`` is the live dict the loops read   |
| ``drop_wandb_init_key``        | Lightning  | ``WandbLogger._wandb_init``                                    |
| ``optuna_heartbeat_base``      | Optuna     | ``optuna.storages._heartbeat.BaseHeartbeat``                   |

Nothing here is imported at module level: config validation uses the OmegaConf entries without loading Lightning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import WandbLogger
    from omegaconf import DictConfig

# Lightning's ModelCheckpoint saves its top-k checkpoints in this method, called with (trainer, monitor_candidates)
# after every validation; snpdiff.training.callbacks.ModelCheckpoint overrides it to pass over validations where its
# monitored metric was not computed (Lightning raises there, and has no public hook between the two).
TOPK_CHECKPOINT_HOOK = "_save_topk_checkpoint"


def quote_override(text: str) -> str:
    """``text`` as a single-quoted value of Hydra's override grammar (quotes and backslashes escaped as Hydra's
    parser reads them back). Hydra exposes its grammar's types, not a quoting function."""
    from hydra.core.override_parser.types import Quote, QuotedString

    return QuotedString(text=text, quote=Quote.single).with_quotes()


def raw_value(config: DictConfig, key: str) -> Any:
    """The value of ``key`` as written, an interpolation such as ``${optimizer.lr}`` left unresolved."""
    return config._get_node(key)._value()


def interpolation_references(text: str) -> set[str]:
    """Every config key an OmegaConf string reads: ``${a.b}`` -> ``{"a.b"}``, also inside resolver arguments
    (``${metric_mode:${optimized_metric}}`` -> ``{"optimized_metric"}``) and string interpolations
    (``"lr=${optimizer.lr}"``). Read with OmegaConf's own grammar; a string it cannot parse reads nothing."""
    from omegaconf import grammar_parser
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser

    try:
        tree = grammar_parser.parse(text)
    except Exception:  # noqa: BLE001 - GrammarParseError and antlr's own: not an interpolation
        return set()
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, OmegaConfGrammarParser.InterpolationNodeContext):
            found.add(node.getText()[2:-1])  # ${a.b} -> a.b; ${.x} (relative) -> .x
        stack.extend(getattr(node, "children", None) or [])
    return found


def use_multi_avg_fn(callback: pl.Callback, multi_avg_fn: Callable) -> None:
    """Make a ``WeightAveraging`` callback average with ``multi_avg_fn`` (torch's foreach form) instead of its
    ``avg_fn``. ``WeightAveraging`` hands its extra keyword arguments to ``AveragedModel`` from ``self._kwargs``, and
    ``AveragedModel`` takes one of the two; the EMA subclass sets ``avg_fn`` itself, with no argument to replace it."""
    callback._kwargs.pop("avg_fn", None)
    callback._kwargs["multi_avg_fn"] = multi_avg_fn


def forget_logged_metrics(trainer: pl.Trainer, prefix: str) -> None:
    """Remove every metric whose name starts with ``prefix`` from what the trainer's loops, early stopping, plateau
    schedulers and checkpoints read as logged. Lightning keeps every key ever logged there and has no public way to
    unlog one; ``trainer.callback_metrics`` is the live dict behind them."""
    metrics = trainer.callback_metrics
    for name in [name for name in metrics if name.startswith(prefix)]:
        del metrics[name]


def drop_wandb_init_key(logger: WandbLogger, key: str) -> None:
    """Leave ``key`` out of the arguments Lightning's ``WandbLogger`` will pass to ``wandb.init``: Lightning always
    passes some (``anonymous=None``) that newer wandb releases answer with a warning nobody can act on."""
    logger._wandb_init.pop(key, None)


def optuna_heartbeat_base() -> type:
    """Optuna's heartbeat interface (``record_heartbeat``, ``_get_stale_trial_ids``, ``get_heartbeat_interval`` and
    the stale-trial callback getter), which ``optuna.storages.fail_stale_trials`` accepts from any storage that
    implements it. Optuna implements it for RDB storages only and keeps the class in a private module; the local
    sweep backend implements it for journal files (``snpdiff.sweep.backends.local.JournalHeartbeatStorage``)."""
    from optuna.storages._heartbeat import BaseHeartbeat

    return BaseHeartbeat
