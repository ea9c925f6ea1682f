"""Learning curves: sample quality of a config against training wall time, next to the real-vs-real limit.

Trains a config (default: ``python train.py`` 's, on a 1,024-SNP window of the embedded simulation with 2,000
individuals split 1,000 / 500 / 500 into training T, validation V and test H) for ``--budget-min`` wall minutes
(``trainer.max_time``), saving a checkpoint when the training clock passes each of ``--marks`` (minutes; EMA
weights when the EMA callback is on). Then, off the clock, each checkpoint samples ``--eval-samples`` individuals S
with the config's sampler and is scored against a subset of T as large as S, with H as the held-out set; the
calibration row scores H against the same T (V as its held-out set), and the model-free anchors
(``snpdiff.metrics.anchors``: independent SNPs, a haplotype mosaic of T) are scored as a model's samples are.
Writes ``<output-dir>/curve.json`` and
``curve.png`` (af_r2, ld_corr, aa_t, aa_s, pca_w1 against minutes, the calibration value as a dashed line).

    python benchmarks/learning_curve.py --output-dir runs/default [--budget-min 5] [--marks 2 5] [overrides ...]
    python benchmarks/learning_curve.py --eval-only --output-dir runs/default [overrides ...]
    python benchmarks/learning_curve.py --plot runs/default/curve.json runs/x0_ema/curve.json --png curves.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate
from matplotlib.figure import Figure

from snpdiff.cli.allocator import keep_freed_memory
from snpdiff.config import compose_config
from snpdiff.data import GenotypeSet
from snpdiff.generation import load_trained_model, sample_codes, sample_labels
from snpdiff.metrics import MetricSettings, evaluate_genotypes
from snpdiff.metrics.anchors import haplotype_mosaic, independent_snps
from snpdiff.training.run import run_training

PLOTTED = ("af_r2", "ld_corr", "aa_t", "aa_s", "pca_w1")
# the study's data: 1,000 training individuals, 500 validation, 500 test (H), a 1,024-SNP window
STUDY_DATA = (
    "data.seq_length=1024",
    "data.n_individuals=2000",
    "data.val_fraction=0.25",
    "data.test_fraction=0.25",
)


class TrainingMarks(pl.Callback):
    """Saves ``<dirpath>/<unit>_<m>.ckpt`` after the first training batch that ends at or past each mark and records
    the step, epoch and wall minute of each. ``unit`` ``minute``: wall minutes since training started (validation
    included); ``step``: optimizer steps, which do not depend on how loaded the machine is."""

    def __init__(self, marks: list[float], dirpath: Path, unit: str = "minute"):
        self.pending = sorted(marks)
        self.dirpath = dirpath
        self.unit = unit
        self.saved: list[dict] = []
        self.start = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args) -> None:
        minutes = (time.perf_counter() - self.start) / 60
        clock = minutes if self.unit == "minute" else trainer.global_step
        while self.pending and clock >= self.pending[0]:
            self._save(trainer, self.pending.pop(0), minutes)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # a time budget stops a little short of its last mark: the final weights stand for it; a step mark the run
        # never reached (another limit stopped it) has no checkpoint, and says so
        for mark in self.pending:
            if self.unit == "step":
                stopped = trainer.global_step
                print(f"learning_curve: training stopped at step {stopped}, before mark {mark:g}; no checkpoint")
                continue
            self._save(trainer, mark, (time.perf_counter() - self.start) / 60)
        self.pending = []

    def _save(self, trainer: pl.Trainer, mark: float, minutes: float) -> None:
        path = self.dirpath / f"{self.unit}_{mark:g}.ckpt"
        trainer.save_checkpoint(path)
        self.saved.append(
            {
                "mark": mark,
                "unit": self.unit,
                "minutes": round(minutes, 2),
                "step": trainer.global_step,
                "epoch": trainer.current_epoch,
                "ckpt": str(path),
            }
        )


def evaluate_mark(
    ckpt: str,
    train: np.ndarray,
    holdout: np.ndarray,
    n: int,
    steps: int | None,
    seed: int,
    frequencies=None,
    labels: tuple[np.ndarray, np.ndarray] | None = None,
    guidance_scale: float = 1.0,
) -> dict:
    """Sample ``n`` individuals from ``ckpt`` and score them against ``n`` rows of T, H as held-out; with
    ``frequencies`` (T's genotype shares per SNP) decoded by frequency thresholds instead of the nearest code. A
    population-conditioned checkpoint samples a mixture at the training shares; with ``labels`` (T's rows', H's) it
    is also scored by ``recovery_rate``; ``guidance_scale``: its classifier-free guidance (1: plain conditional)."""
    trained = load_trained_model(ckpt)
    rows = 2 * n if trained.encoding.haplotype else n  # a haplotype model: a person is two haplotypes summed
    start = time.perf_counter()
    synthetic = sample_codes(
        trained, rows, sampling_steps=steps, seed=seed, progress=False, frequencies=frequencies,
        guidance_scale=guidance_scale,
    )  # fmt: skip
    sample_s = time.perf_counter() - start
    synthetic_labels = sample_labels(trained, rows, seed=seed)
    if trained.encoding.haplotype:
        synthetic = persons(synthetic)
        synthetic_labels = None if synthetic_labels is None else synthetic_labels[0::2]
    if labels is None or synthetic_labels is None:
        labels, synthetic_labels = (None, None), None
    metrics = evaluate_genotypes(
        GenotypeSet.from_codes(train, labels[0]), GenotypeSet.from_codes(synthetic, synthetic_labels),
        GenotypeSet.from_codes(holdout, labels[1]), MetricSettings(seed=seed),
    )  # fmt: skip
    return {"sample_seconds": round(sample_s, 1), **{k: round(float(v), 4) for k, v in metrics.items()}}


def persons(haplotypes: np.ndarray) -> np.ndarray:
    """Rows ``2i`` and ``2i + 1`` (an individual's two haplotypes, as the data module orders them) summed: dosages."""
    return haplotypes[0::2] + haplotypes[1::2]


def score_anchors(datamodule, split: dict, rows: np.ndarray, n: int, seed: int) -> dict[str, dict]:
    """The model-free anchors of ``snpdiff.metrics.anchors`` (independent SNPs; a haplotype mosaic of T with Li and
    Stephens' switch rate at the window's positions; of T's phased haplotypes in haplotype mode), ``n`` people
    each, scored as a model's samples are."""
    positions = datamodule.snps.position if datamodule.snps is not None else None
    haplotypes = datamodule.train_codes if datamodule.encoding.haplotype else None
    train = split["train"]
    populations = split["train_populations"]
    sets = {
        "independent_snps": independent_snps(train, n, populations, seed),
        "haplotype_mosaic": haplotype_mosaic(train, n, populations, haplotypes, positions, seed),
    }
    return {
        name: {
            k: round(float(v), 4)
            for k, v in evaluate_genotypes(
                GenotypeSet.from_codes(train[rows[:n]]), GenotypeSet.from_codes(codes),
                GenotypeSet.from_codes(split["test"]), MetricSettings(seed=seed),
            ).items()
        }
        for name, (codes, _) in sets.items()
    }


def plot_curves(curves: list[dict], png: Path) -> None:
    """One panel per metric in ``PLOTTED``: each curve's value against training minutes (time budgets) or optimizer
    steps (step budgets), the calibration as a dashed line."""
    by_minute = all(point["unit"] == "minute" for curve in curves for point in curve["points"])
    figure = Figure(figsize=(4 * len(PLOTTED), 3.6))
    axes = figure.subplots(1, len(PLOTTED))
    for curve_index, curve in enumerate(curves):
        color = f"C{curve_index}"
        xs = [point["mark"] if by_minute else point["step"] for point in curve["points"]]
        for axis, name in zip(axes, PLOTTED, strict=True):
            axis.plot(xs, [point["metrics"][name] for point in curve["points"]], "o-", color=color, label=curve["name"])
            axis.axhline(curve["calibration"][name], color=color, linestyle="--", linewidth=0.8)
    for axis, name in zip(axes, PLOTTED, strict=True):
        for style, (anchor, scores) in zip((":", "-."), curves[0].get("anchors", {}).items(), strict=False):
            axis.axhline(scores[name], color="grey", linestyle=style, linewidth=0.8, label=anchor)
    for axis, name in zip(axes, PLOTTED, strict=True):
        axis.set_title(name)
        axis.set_xlabel("training minutes (2 CPU cores)" if by_minute else "optimizer steps")
    axes[0].legend(fontsize=7)
    figure.suptitle(
        "dashed: held-out real vs training (calibration limit); grey: model-free anchors (independent SNPs, mosaic)",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(png, dpi=110)


TABLE = (
    "af_r2", "ld_corr", "aa_t", "aa_s", "pca_w1", "het_sd_ratio", "nn_st_median", "exact_copy_rate", "privacy_loss",
    "mia_auc", "recovery_rate",
)  # fmt: skip


def markdown_table(curves: list[dict]) -> str:
    """One row per point of every curve (its minute, step and the ``TABLE`` metrics), then the calibration row."""
    lines = [
        "| run | minute | step | " + " | ".join(TABLE) + " |",
        "|---|---|---|" + "---|" * len(TABLE),
    ]
    for curve in curves:
        for index, point in enumerate(curve["points"]):
            name = curve["name"] if index == 0 else ""
            values = " | ".join(f"{point['metrics'][key]:.3g}" if key in point["metrics"] else "" for key in TABLE)
            lines.append(f"| {name} | {point['mark']:g} | {point['step']} | {values} |")
    anchors = {"held-out real (calibration)": curves[0]["calibration"], **curves[0].get("anchors", {})}
    for name, scores in anchors.items():
        lines.append(
            f"| {name} | | | " + " | ".join(f"{scores[key]:.3g}" if key in scores else "" for key in TABLE) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path)
    parser.add_argument("--name", default=None, help="label of the curve (default: the output folder's name)")
    parser.add_argument("--budget-min", type=float, default=5.0)
    parser.add_argument("--marks", type=float, nargs="+", default=[2.0, 5.0], help="minutes to checkpoint at")
    parser.add_argument(
        "--step-budget", type=int, default=None, help="train this many steps instead; --marks are then steps"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared machine)")
    parser.add_argument("--eval-samples", type=int, default=500)
    parser.add_argument("--sampling-steps", type=int, default=None, help="default: the config's diffusion.*")
    parser.add_argument(
        "--guidance-scale", type=float, default=1.0, help="classifier-free guidance of a population-conditioned model"
    )
    parser.add_argument("--eval-only", action="store_true", help="score the checkpoints already in --output-dir")
    parser.add_argument("--only-marks", type=float, nargs="+", help="with --eval-only: score only these marks")
    parser.add_argument(
        "--decode",
        choices=("nearest", "frequencies"),
        default="nearest",
        help="samples -> codes: nearest code, or per-SNP thresholds at T's genotype frequencies",
    )
    parser.add_argument("--curve-file", default="curve.json", help="name of the JSON (and PNG) in --output-dir")
    parser.add_argument("--anchors-only", action="store_true", help="only score the model-free anchors and H")
    parser.add_argument(
        "--plot", type=Path, nargs="+", help="only draw these curve.json files into --png and print their table"
    )
    parser.add_argument("--png", type=Path, default=Path("curves.png"))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides on top of the study's data settings")
    args = parser.parse_args()
    if args.plot:
        curves = [json.loads(path.read_text()) for path in args.plot]
        plot_curves(curves, args.png)
        print(markdown_table(curves))
        return
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as train.py does
    output_dir = args.output_dir.resolve()
    minutes, seconds = int(args.budget_min), round((args.budget_min % 1) * 60)
    budget = (
        [f"++trainer.max_steps={args.step_budget}", "trainer.max_time=null"]  # steps alone stop it
        if args.step_budget
        else [f"trainer.max_time=00:00:{minutes:02d}:{seconds:02d}"]
    )
    cfg = compose_config(
        [
            *STUDY_DATA,
            "logger=csv",
            "callbacks.progress_bar=null",
            "quality.enabled=false",
            "++trainer.enable_model_summary=false",
            "trainer.max_epochs=100000",
            *budget,
            f"paths.output_dir={output_dir}",
            *args.overrides,
        ]
    )
    marks_file = output_dir / "marks.json"
    if not args.eval_only and not args.anchors_only:
        marks = TrainingMarks(args.marks, output_dir / "marks", "step" if args.step_budget else "minute")
        run_training(cfg, extra_callbacks=[marks])
        marks_file.write_text(json.dumps(marks.saved, indent=2))
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    # people, also in haplotype mode (two haplotypes summed), so every curve is scored on the same individuals
    pair = persons if datamodule.encoding.haplotype else (lambda codes: codes)
    split = {name: pair(getattr(datamodule, f"{name}_codes")) for name in ("train", "val", "test")}
    for name in ("train", "test"):
        labels = getattr(datamodule, f"{name}_populations")
        split[f"{name}_populations"] = None if labels is None else labels[:: 2 if datamodule.encoding.haplotype else 1]
    train, val, test = split["train"], split["val"], split["test"]
    rows = np.random.default_rng(cfg.seed).permutation(len(train))
    calibration = evaluate_genotypes(
        GenotypeSet.from_codes(train[rows[: len(test)]]), GenotypeSet.from_codes(test), GenotypeSet.from_codes(val),
        MetricSettings(seed=cfg.seed),
    )
    anchors = score_anchors(datamodule, split, rows, args.eval_samples, cfg.seed)
    if args.anchors_only:
        calibration = {k: round(float(v), 4) for k, v in calibration.items()}
        print(json.dumps({"held_out_real": calibration, **anchors}, indent=1))
        return
    frequencies = None
    if args.decode == "frequencies":
        frequencies = np.stack([(train == code).mean(axis=0) for code in datamodule.encoding.codes], axis=1)
    points = []
    for mark in json.loads(marks_file.read_text()):
        if args.only_marks and mark["mark"] not in args.only_marks:
            continue
        metrics = evaluate_mark(
            mark["ckpt"],
            train[rows[: args.eval_samples]],
            test,
            args.eval_samples,
            args.sampling_steps,
            cfg.seed,
            frequencies,
            None if split["train_populations"] is None
            else (split["train_populations"][rows[: args.eval_samples]], split["test_populations"]),
            args.guidance_scale,
        )  # fmt: skip
        points.append({**mark, "metrics": metrics})
        print(json.dumps(points[-1]), flush=True)
    curve = {
        "name": args.name or output_dir.name,
        "overrides": list(args.overrides),
        "budget": f"{args.step_budget} steps" if args.step_budget else f"{args.budget_min:g} min",
        "torch_threads": args.threads,
        "data": {"seq_length": int(datamodule.seq_length), "train/val/test": [len(train), len(val), len(test)]},
        "eval": {
            "samples": args.eval_samples,
            "sampler": cfg.diffusion.sampler,
            "sampling_steps": args.sampling_steps or cfg.diffusion.sampling_steps,
            "decode": args.decode,
            "guidance_scale": args.guidance_scale,
        },
        "calibration": {k: round(float(v), 4) for k, v in calibration.items()},
        "anchors": anchors,
        "points": points,
    }
    curve_file = output_dir / args.curve_file
    curve_file.write_text(json.dumps(curve, indent=2))
    plot_curves([curve], curve_file.with_suffix(".png"))
    print(json.dumps(curve, indent=2))


if __name__ == "__main__":
    main()
