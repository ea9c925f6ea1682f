"""The EMA callback node (conf/callbacks/ema.yaml): its weights are the closed-form moving average."""

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import instantiate

from snpdiff.config import compose_config


class Drift(pl.LightningModule):
    """One parameter that SGD with lr 1 on loss = sum(w) moves by exactly -1 per step."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(2))

    def training_step(self, batch, batch_idx):
        return self.weight.sum() + 0 * batch.sum()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=1.0)


def fit(module: pl.LightningModule, data: torch.Tensor, ema: pl.Callback, folder) -> None:
    """One step per row of ``data`` with ``ema`` as the only callback."""
    trainer = pl.Trainer(
        max_steps=len(data),
        callbacks=[ema],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=folder,
    )
    trainer.fit(module, torch.utils.data.DataLoader(data, batch_size=1))


def test_ema_weights_equal_the_closed_form_after_three_steps(tmp_path):
    node = compose_config(["callbacks=ema", "callbacks.ema.decay=0.5"]).callbacks.ema
    module = Drift()
    fit(module, torch.zeros(3, 1), instantiate(node), tmp_path)
    # weights after steps 1, 2, 3: -1, -2, -3; the first update copies, then ema = 0.5 ema + 0.5 w
    expected = 0.5 * (0.5 * -1.0 + 0.5 * -2.0) + 0.5 * -3.0
    assert module.weight.detach().tolist() == pytest.approx([expected, expected])  # copied in at the end of fit


def test_foreach_update_gives_lightnings_average(tmp_path):
    """snpdiff's EMAWeightAveraging (the default node) runs torch's foreach update, not Lightning's per-parameter
    loop, and lands on the average Lightning's own class computes (to float rounding) after 5 AdamW steps."""
    from lightning.pytorch.callbacks import EMAWeightAveraging as LightningEMA

    from snpdiff.training.callbacks import EMAWeightAveraging

    class Regression(pl.LightningModule):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.SiLU(), torch.nn.Linear(8, 1))

        def training_step(self, batch, batch_idx):
            return (self.net(batch) - batch.sum(dim=1, keepdim=True)).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.AdamW(self.parameters(), lr=0.1)

    averaged = {}
    node = compose_config(["callbacks.ema.decay=0.7"]).callbacks.ema
    for name, ema in (("ours", instantiate(node)), ("lightning", LightningEMA(decay=0.7))):
        module = Regression()
        fit(module, torch.randn(5, 4, generator=torch.Generator().manual_seed(1)), ema, tmp_path / name)
        averaged[name] = torch.cat([p.detach().flatten() for p in module.parameters()])
        if name == "ours":
            assert type(ema) is EMAWeightAveraging
            assert ema._average_model.multi_avg_fn is not None and ema._average_model.avg_fn is None
    torch.testing.assert_close(averaged["ours"], averaged["lightning"], rtol=1e-6, atol=1e-7)
