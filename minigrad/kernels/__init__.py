"""Speed machinery below the math: what the heavy ops share to run fast, kept out of their formulas.

    mode.py      reference or fast kernels (``use_reference()``, ``reference_kernels()``)
    threads.py   one small thread pool for splitting big passes; the BLAS thread policy

Ops import kernels; kernels import only ``backend``. Each heavy op keeps a reference ``Function``
whose backward reads like its formula, and a fast one beside it; ``minigrad.functional`` picks the
fast one unless ``reference_kernels()`` is active.
"""
from .mode import reference_kernels, use_reference  # noqa: E402,F401  (minigrad.kernels.reference_kernels())
