"""Classifier-free guidance (Ho & Salimans 2022) for any model called as ``model(x, t, labels)``.

A label-conditioned denoiser trained with its labels dropped to the "no label" index some of the time gives both a
conditional and an unconditional prediction; sampling with ``uncond + scale * (cond - uncond)`` pushes samples
towards what sets their label apart. ``scale`` 1 is plain conditional sampling (one model call per step); 0 ignores
the label. The combination is linear in the model output, so it holds for every prediction type (eps, x0, v).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

LabelledModel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class GuidedModel:
    """``model`` with the labels and the guidance scale bound: called as ``guided(x, t, labels)``, where ``labels``
    long ``[batch]`` are class indices and ``null_label`` the model's "no label" index."""

    def __init__(self, model: LabelledModel, null_label: int, scale: float = 1.0) -> None:
        self.model = model
        self.null_label = int(null_label)
        self.scale = float(scale)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.scale == 1.0:
            return self.model(x, t, labels)
        if self.scale == 0.0:
            return self.model(x, t, torch.full_like(labels, self.null_label))
        # one call over [conditional; unconditional]: the batch doubles, the call count does not
        both = self.model(
            torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, torch.full_like(labels, self.null_label)])
        )
        conditional, unconditional = both.chunk(2)
        return unconditional + self.scale * (conditional - unconditional)
