"""The keys of a ``scheduler`` node that are not arguments of its ``_target_``, and the floor rules.

Besides the target's own arguments a scheduler node may hold:

- ``interval`` (``step`` | ``epoch``), ``frequency``, ``monitor``, ``strict``: Lightning's lr-scheduler keys;
- ``eta_min_ratio`` / ``min_lr_ratio``: the floor as a fraction of ``optimizer.lr``, used when ``eta_min`` /
  ``min_lr`` is null (an absolute floor that is not below ``optimizer.lr`` is refused).

Torch-free: config validation applies the same rules as the scheduler's build (``snpdiff.training.lr_schedulers``).
"""

from __future__ import annotations

from typing import Any

LIGHTNING_KEYS = ("interval", "frequency", "monitor", "strict")
# torch's names for the lowest learning rate a scheduler reaches
FLOOR_KEYS = ("eta_min", "min_lr")
# keys of a scheduler node that are not arguments of its _target_
SCHEDULER_KEYS = (*LIGHTNING_KEYS, *(f"{key}_ratio" for key in FLOOR_KEYS))


def resolve_floors(args: dict[str, Any], lr: float) -> tuple[float | None, list[str]]:
    """Resolve a scheduler node's floor keys in ``args`` (in place): ``<floor>_ratio x lr`` when ``<floor>`` is
    null, the ratio keys removed, a null floor left to the target's default. Returns the floor (None if none) and
    a problem per bad floor: a ratio outside [0, 1), or an absolute floor not below ``lr``. Config validation calls
    it too (no torch), so such a config fails before anything loads."""
    floor, problems = None, []
    for key in FLOOR_KEYS:
        ratio = args.pop(f"{key}_ratio", None)
        if args.get(key) is None and ratio is not None:
            if not (isinstance(ratio, (int, float)) and 0 <= ratio < 1):
                problems.append(f"scheduler.{key}_ratio={ratio!r} must be in [0, 1) (a fraction of optimizer.lr)")
                continue
            args[key] = ratio * lr
        elif args.get(key) is not None and args[key] >= lr:
            problems.append(
                f"scheduler.{key}={args[key]!r} is not below optimizer.lr={lr!r}; lower it, or set "
                f"scheduler.{key}=null and scheduler.{key}_ratio to a fraction of optimizer.lr"
            )
        if args.get(key) is None:
            args.pop(key, None)  # no floor given: the target's default
        else:
            floor = args[key]
    return floor, problems
