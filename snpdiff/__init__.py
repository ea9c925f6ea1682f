"""snpdiff: diffusion models for synthetic SNP genotypes, configured with Hydra and trained with Lightning.

From Python (docs/python.md): ``snpdiff.load(run_or_checkpoint)`` gives a ``Generator`` (``.sample``, ``.write``,
``.population_names``); ``snpdiff.generate`` and ``snpdiff.evaluate`` are generate.py and evaluate.py as functions.
They load on first use (``lazy_loader``): ``import snpdiff`` stays cheap, as the modules that read ``__version__``
and config validation need it to be. They live in ``snpdiff.api`` (the components floor); this face names them by
string only, so nothing below that floor imports them.
"""

import lazy_loader

__version__ = "0.1.0"

# snpdiff.api -> the names it defines (loaded on first use)
_LAZY = {"api": ["Generator", "Samples", "evaluate", "generate", "load"]}
__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_LAZY)
__all__ = ["Generator", "Samples", "__version__", "evaluate", "generate", "load"]
