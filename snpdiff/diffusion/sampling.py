"""The sampling loop (diffusers' pipeline seam): draw x_T ~ N(0, I), then let a sampler step it down to x0.

The loop is the only place that calls the model during sampling and the only one that reports progress; the process
(`process.py`) and the samplers (`samplers.py`) are pure maths. Any sampler instance drives any model::

    x0 = sample(model, diffusion, DDIMSampler(eta=0.0), (batch, 1, snps), sampling_steps=25)

Trained SNP models are sampled through ``snpdiff.generation.sampling.SamplingPipeline``, the one place that adds the
encoding's clip range, population labels with guidance and each batch's own seed around this loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import torch

from snpdiff.diffusion.process import GaussianDiffusion
from snpdiff.diffusion.samplers import Sampler, standard_normal

# model(x [batch, ...], t long [batch], *extra) -> prediction; extra: batch-aligned tensors such as labels [batch]
Model = Callable[..., torch.Tensor]
StepCallback = Callable[[int, int], None]  # on_step(steps done, steps in all), after every step

CPU_SLICE = 32  # individuals per model call on CPU (see `sample`)


@torch.inference_mode()
def sample(
    model: Model,
    diffusion: GaussianDiffusion,
    sampler: Sampler,
    shape: Sequence[int],
    sampling_steps: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    on_step: StepCallback | None = None,
    cpu_slice: int | None = CPU_SLICE,
    extra: Sequence[torch.Tensor] = (),
) -> torch.Tensor:
    """Draw x0 float32 `shape` (`[batch, channels, snps]` for the SNP models) by running `diffusion`'s reverse process
    from x_T ~ N(0, I) with `sampler`.

    `model` returns the diffusion's `prediction`; put it in eval mode first (the loop does not change its mode).
    `sampling_steps` defaults to `diffusion.sampling_steps`. `generator` seeds the starting noise and every step's
    noise (the same seed gives the same samples). `device` defaults to the diffusion's buffers' device. `on_step`,
    if given, is called after every step with (steps done, steps in all), e.g. to advance a progress bar. `extra`:
    tensors with one entry per individual passed to every model call after t (population labels ``[batch]`` for a
    conditioned model, see ``snpdiff.diffusion.guidance``); sliced with x when the call is sliced.
    ConfigError before any model call for a step count outside [1, diffusion.timesteps].

    On CPU a model call over at least two slices of `cpu_slice` individuals per torch intra-op thread runs as slices of
    `cpu_slice`, spread over as many pool threads as torch has intra-op threads, each slice with one intra-op thread
    (None: always one whole-batch call). For the small convolutions of the SNP UNets at large batches this is faster
    than one call with every thread inside each op: a core keeps a 32-individual slice's feature maps in its own cache
    and no op waits at a barrier for the other threads. With one slice per thread the slices were no faster per
    call and slower end to end, so such calls run whole (``benchmarks/sampling.py`` compares both ways;
    docs/performance.md). It needs a model that treats individuals independently, as every snpdiff denoiser does in eval
    mode; the samples are the whole-batch call's to float rounding, as between thread counts. The noise and the
    sampler's steps are the same: only the model call is split.
    """
    sampler.set_timesteps(diffusion, diffusion.sampling_steps if sampling_steps is None else sampling_steps)
    device = diffusion.betas.device if device is None else torch.device(device)
    x = standard_normal(shape, generator, device, torch.float32)
    timesteps = sampler.timesteps.tolist()
    slicing = device.type == "cpu" and cpu_slice is not None and x.shape[0] >= 2 * torch.get_num_threads() * cpu_slice
    with _sliced_calls(model, cpu_slice if slicing else None) as call:
        for done, t in enumerate(timesteps, start=1):
            t_batch = torch.full((x.shape[0],), t, device=device, dtype=torch.long)
            x = sampler.step(call(x, t_batch, *extra), t, x, generator)
            if on_step is not None:
                on_step(done, len(timesteps))
    return x


@contextmanager
def _sliced_calls(model: Model, slice_size: int | None) -> Iterator[Model]:
    """`model`, or for a `slice_size` a stand-in that runs it on slices of that many individuals in a thread pool.

    torch's intra-op thread count is one process-wide setting: it is 1 while a sliced call runs and restored after,
    and each pool thread sets its own OpenMP count to 1, so the slices never oversubscribe the cores.
    """
    if slice_size is None:
        yield model
        return

    def one_slice(*inputs: torch.Tensor) -> torch.Tensor:
        torch.set_num_threads(1)
        with torch.inference_mode():  # inference mode is per thread
            return model(*inputs)

    threads = torch.get_num_threads()
    with ThreadPoolExecutor(threads, thread_name_prefix="snpdiff-sample") as pool:

        def call(*inputs: torch.Tensor) -> torch.Tensor:
            torch.set_num_threads(1)
            try:
                return torch.cat(list(pool.map(one_slice, *(tensor.split(slice_size) for tensor in inputs))))
            finally:
                torch.set_num_threads(threads)

        yield call
