"""Sample quality during training: sample with fast DDIM, score against the validation split, log as ``val/<metric>``.

Fidelity metrics (allele frequencies, LD, PCA, Fst) compare the samples S with the validation split V; the privacy
metrics (adversarial accuracy, exact copies, membership inference) compare S with the training split T, with V as
the held-out set. A population-conditioned model samples a mixture at the training shares, each individual with its
label, and adds the utility metric ``recovery_rate`` (an ancestry classifier trained on S, tested on V).
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning.pytorch as pl
import numpy as np

from snpdiff.compat import forget_logged_metrics
from snpdiff.data import GenotypeSet
from snpdiff.generation.sampling import PopulationLabels, SamplingPipeline
from snpdiff.metrics import MetricSettings, evaluate_genotypes
from snpdiff.metrics.names import QUALITY_PREFIX
from snpdiff.metrics.privacy import privacy_metrics
from snpdiff.metrics.utility import recovery_rate
from snpdiff.training.loggers import log_figures

log = logging.getLogger(__name__)
PRIVACY_KEYS = (
    "aa_t",
    "aa_s",
    "aats",
    "aats_gap",
    "exact_copy_rate",
    "aats_holdout",
    "privacy_loss",
    "nn_distance_ratio",
    "mia_auc",
)


def training_subset(training_rows: int, count: int, ploidy: int, seed: int) -> np.ndarray:
    """``count`` training rows drawn at random (by ``seed``) for the privacy metrics, as int64 indices ``[count]``;
    haplotype rows (ploidy 1) are drawn as whole people, rows ``2i`` and ``2i + 1`` together, so the kinship figures
    pair them as the people they are."""
    rng = np.random.default_rng(seed)
    if ploidy == 2:
        return rng.permutation(training_rows)[:count]
    people = rng.permutation(training_rows // 2)[: (count + 1) // 2]
    return np.stack([2 * people, 2 * people + 1], axis=1).ravel()[:count]


class SampleQualityCallback(pl.Callback):
    """After the first epoch, every ``eval_every_n_epochs`` epochs and at the run's last validation (``max_epochs``,
    ``max_steps`` or a ``trainer.max_time`` stop), samples ``eval_samples`` individuals with the sampler named
    ``sampler`` at ``sampling_steps`` steps and logs the genotype metrics; plots go to
    ``<output_dir>/quality/epoch_<n>/`` and to every logger that takes images (W&B, TensorBoard, MLflow:
    ``snpdiff.training.loggers.log_figures``).

    The metrics are logged only on the epochs they are computed; the values of an earlier evaluation are taken out
    of ``trainer.callback_metrics`` at the start of every validation, so early stopping and ReduceLROnPlateau on a
    ``val/`` metric (with ``strict: false``, as ``conf/`` sets them) skip the epochs between evaluations: their
    patience counts evaluations, not epochs. ``snpdiff.training.callbacks.ModelCheckpoint`` likewise keeps the best
    checkpoint as it is on those epochs.
    """

    def __init__(
        self,
        enabled: bool = True,
        eval_every_n_epochs: int = 5,
        eval_samples: int = 256,
        sampling_steps: int = 10,
        sampler: str = "dpmpp_2m",
        ld_window: int = 50,
        log_plots: bool = True,
        guidance_scale: float = 1.0,
        seed: int = 0,
    ):
        self.eval_every_n_epochs = eval_every_n_epochs
        self.eval_samples = eval_samples
        self.sampling_steps = sampling_steps
        self.sampler_name = sampler  # the config key is `quality.sampler`; the name, not a Sampler object
        self.ld_window = ld_window
        self.log_plots = log_plots
        self.guidance_scale = guidance_scale
        self.seed = seed
        self.evaluations = 0

    def state_dict(self) -> dict[str, int]:
        """The number of evaluations so far travels in checkpoints: a resumed run does not evaluate out of turn."""
        return {"evaluations": self.evaluations}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.evaluations = int(state_dict.get("evaluations", 0))

    def _due(self, trainer: pl.Trainer) -> bool:
        epoch = trainer.current_epoch + 1
        # the run's last validation: max_epochs reached, max_steps reached, or a stop already requested before
        # validation (trainer.max_time's Timer stops mid-epoch and Lightning validates once more)
        last = (
            (trainer.max_epochs is not None and epoch >= trainer.max_epochs)
            or (trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps)
            or trainer.should_stop
        )
        return self.evaluations == 0 or epoch % self.eval_every_n_epochs == 0 or last

    def evaluate(self, pl_module: pl.LightningModule, datamodule) -> tuple[dict[str, float], np.ndarray]:
        """Sample ``eval_samples`` individuals as generate.py would (``SamplingPipeline``, batch 0 of ``seed``; a
        conditioned model a mixture at the training shares) and score them; returns the metrics and the sampled
        codes ``[eval_samples, snps]``."""
        encoding, names = datamodule.encoding, datamodule.model_inputs.population_names
        labels = PopulationLabels(datamodule.population_shares, encoding.ploidy) if names else None
        pipeline = SamplingPipeline(
            pl_module.model, pl_module.diffusion, encoding, datamodule.seq_length, self.sampler_name,
            self.sampling_steps, labels, self.guidance_scale,
        )  # fmt: skip
        was_training = pl_module.training
        pl_module.eval()
        try:
            synthetic = encoding.from_model(pipeline.values(self.seed, 0, self.eval_samples))
        finally:
            pl_module.train(was_training)
        populations = None if labels is None else np.asarray(names)[labels.draw(self.seed, 0, self.eval_samples)]
        return self.score(synthetic, datamodule, populations), synthetic

    def score(self, synthetic: np.ndarray, datamodule, populations: np.ndarray | None = None) -> dict[str, float]:
        """The metrics of ``synthetic`` codes: fidelity against the validation split V, privacy against as many
        training individuals as ``synthetic`` has (a fixed random subset, by ``seed``) with V as held-out; with
        ``populations`` (S's labels) the ``recovery_rate`` of an ancestry classifier trained on S, tested on V."""
        encoding = datamodule.encoding
        validation, training = datamodule.val_codes, datamodule.train_codes
        rows = training_subset(len(training), len(synthetic), encoding.ploidy, self.seed)
        metrics = evaluate_genotypes(
            GenotypeSet.from_codes(validation, haplotype=encoding.haplotype),
            GenotypeSet.from_codes(synthetic, haplotype=encoding.haplotype),
            settings=MetricSettings(ld_window=self.ld_window, seed=self.seed),
        )
        metrics = {k: v for k, v in metrics.items() if k not in PRIVACY_KEYS}
        metrics.update(privacy_metrics(training[rows], synthetic, holdout=validation, ploidy=encoding.ploidy))
        if populations is not None and datamodule.val_populations is not None:
            real_labels = datamodule.train_populations[rows]
            metrics.update(
                recovery_rate(training[rows], real_labels, synthetic, populations, validation,
                              datamodule.val_populations, seed=self.seed)
            )  # fmt: skip
        return metrics

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning keeps every key ever logged in callback_metrics; an earlier evaluation's values left there would
        # be read by early stopping, plateau schedulers and metrics.json as if measured again this epoch
        forget_logged_metrics(trainer, QUALITY_PREFIX)

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not self._due(trainer):
            return
        metrics, synthetic = self.evaluate(pl_module, trainer.datamodule)
        self.evaluations += 1
        for name, value in metrics.items():
            if np.isfinite(value):
                pl_module.log(f"{QUALITY_PREFIX}{name}", float(value), sync_dist=False, rank_zero_only=True)
        if self.log_plots and trainer.is_global_zero:
            self._plots(trainer, synthetic)

    def _plots(self, trainer: pl.Trainer, synthetic: np.ndarray) -> None:
        from snpdiff.metrics.plots import make_plots

        folder = f"quality/epoch_{trainer.current_epoch}"
        out_dir = Path(trainer.default_root_dir) / folder
        datamodule = trainer.datamodule
        haplotype = datamodule.encoding.haplotype
        plots = make_plots(
            GenotypeSet.from_codes(datamodule.val_codes, getattr(datamodule, "val_populations", None), haplotype),
            GenotypeSet.from_codes(synthetic, haplotype=haplotype), None, out_dir,
            MetricSettings(ld_window=self.ld_window),
        )  # fmt: skip
        figures = {f"{QUALITY_PREFIX}{name}": path for name, path in plots.items()}
        log_figures(trainer.loggers, figures, trainer.global_step, folder)
