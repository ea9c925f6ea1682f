"""The value rules of the `diffusion` keys: schedule, prediction, sampler and sampling steps.

Torch-free, so that config validation can run them without loading the process; `GaussianDiffusion` and the
samplers call them with the values they are given.
"""

from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any

SCHEDULE_TYPES: tuple[str, ...] = ("linear", "cosine", "sigmoid")
PREDICTION_TYPES: tuple[str, ...] = ("eps", "x0", "v")
# the values of `diffusion.sampler`; `samplers.sampler_from_config` builds the sampler each one names: ancestral
# DDPM, DDIM, and DPM-Solver++(2M) (`dpmpp_2m`, Lu et al. 2022: deterministic, second order, for few steps)
SAMPLER_NAMES: tuple[str, ...] = ("ddpm", "ddim", "dpmpp_2m")
UNKNOWN_SAMPLER = f"is not a known sampler; allowed: {', '.join(SAMPLER_NAMES)}"


def _is_real(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


# key -> (the check its value must pass, what is allowed)
SCHEDULE_KEY_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "schedule_type": (lambda value: value in SCHEDULE_TYPES, f"is not one of {SCHEDULE_TYPES}"),
    "timesteps": (
        lambda value: isinstance(value, Integral) and not isinstance(value, bool) and value >= 1,
        "must be a positive integer",
    ),
    "beta_start": (lambda value: _is_real(value) and 0.0 < value < 1.0, "must be a number in (0, 1)"),
    "beta_end": (lambda value: _is_real(value) and 0.0 < value < 1.0, "must be a number in (0, 1)"),
}


def check_schedule_config(settings: Mapping[str, Any]) -> list[str]:
    """Every problem with the schedule keys among `settings` (`schedule_type`, `timesteps`, `beta_start`,
    `beta_end`), each naming its `diffusion.<key>` and what is allowed (empty when fine).

    No defaults of its own (they live in `GaussianDiffusion`'s signature): a key not given is not checked.
    beta_start/beta_end are checked for every schedule type, though `cosine` does not use them.
    """
    problems = [
        f"diffusion.{key}={settings[key]!r} {allowed}"
        for key, (check, allowed) in SCHEDULE_KEY_RULES.items()
        if key in settings and not check(settings[key])
    ]
    betas_ok = all(key in settings and SCHEDULE_KEY_RULES[key][0](settings[key]) for key in ("beta_start", "beta_end"))
    if betas_ok and settings["beta_start"] >= settings["beta_end"]:
        problems.append(
            f"diffusion.beta_start={settings['beta_start']!r} must be below diffusion.beta_end={settings['beta_end']!r}"
        )
    return problems


def check_sampler(name: Any) -> list[str]:
    """The problem with `diffusion.sampler` = `name`, if any (empty when fine), listing every allowed name."""
    if name in SAMPLER_NAMES:
        return []
    return [f"diffusion.sampler={name!r} {UNKNOWN_SAMPLER}"]


def check_sampling_steps(sampling_steps: int, timesteps: int) -> list[str]:
    """The problem with `sampling_steps` for a process of `timesteps` steps, if any (empty when fine)."""
    is_integer = isinstance(sampling_steps, Integral) and not isinstance(sampling_steps, bool)
    if is_integer and 1 <= sampling_steps <= timesteps:
        return []
    return [f"diffusion.sampling_steps={sampling_steps!r} must be an integer in [1, diffusion.timesteps={timesteps}]"]


def check_diffusion_config(**settings: Any) -> list[str]:
    """Every problem with these `diffusion.*` settings, each naming its key and what is allowed (empty when fine).

    Takes `GaussianDiffusion`'s keyword arguments as composed; no defaults of its own (they live in its signature):
    a key not given is not checked, and without `timesteps` only the lower bound of `sampling_steps` is.
    """
    rules = {  # key -> (the check its value must pass, what is allowed)
        "prediction": (lambda value: value in PREDICTION_TYPES, f"is not one of {PREDICTION_TYPES}"),
        "sampler": (lambda value: value in SAMPLER_NAMES, UNKNOWN_SAMPLER),
        "ddim_eta": (
            lambda value: isinstance(value, Real) and not isinstance(value, bool) and 0.0 <= value <= 1.0,
            "must be a number in [0, 1]",
        ),
        "min_snr_gamma": (
            lambda value: value is None or (isinstance(value, Real) and not isinstance(value, bool) and value > 0),
            "must be a number > 0, or null (every timestep weighted alike)",
        ),
    }
    problems = check_schedule_config(settings)
    problems += [
        f"diffusion.{key}={settings[key]!r} {allowed}"
        for key, (check, allowed) in rules.items()
        if key in settings and not check(settings[key])
    ]
    if "sampling_steps" not in settings or any(problem.startswith("diffusion.timesteps=") for problem in problems):
        return problems
    if "timesteps" in settings:
        return problems + check_sampling_steps(settings["sampling_steps"], settings["timesteps"])
    steps = settings["sampling_steps"]
    if not (isinstance(steps, Integral) and not isinstance(steps, bool) and steps >= 1):
        problems.append(f"diffusion.sampling_steps={steps!r} must be an integer >= 1 (and <= diffusion.timesteps)")
    return problems
