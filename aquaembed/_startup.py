"""Start-up cost of the ``aquaembed evaluate`` process.

When numba's CPU target starts (on the first call of a jitted kernel, cached or not) it
imports ``numba.np.arraymath``, whose module-level BLAS check imports
``scipy.linalg.cython_blas`` and with it all of ``scipy.linalg`` (about 0.15 s of CPU,
a tenth of a whole 3,000-frame evaluation). aquaembed's kernels use no BLAS, so a
process that only evaluates can let that check fail: :func:`skip_numba_blas_check`
imports ``numba.np.arraymath`` while ``scipy.linalg`` is hidden, and numba then records
"no BLAS" for this process (``np.dot`` and ``np.linalg`` inside *newly compiled* numba
code would be unavailable; aquaembed's kernels never use them).

Only the ``aquaembed evaluate`` process calls it (:func:`aquaembed.cli.run`, the console
script); the library, and :func:`aquaembed.cli.main` called in-process, never do.
"""

from __future__ import annotations

import importlib.abc
import sys
from typing import Any

__all__ = ["skip_numba_blas_check"]


class _HideScipyLinalg(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "scipy.linalg" or name.startswith("scipy.linalg."):
            raise ModuleNotFoundError(f"{name} hidden while numba starts", name=name)
        return None


def skip_numba_blas_check() -> None:
    """Import numba's array maths without its BLAS check (see the module docstring).

    Does nothing when ``numba.np.arraymath`` or ``scipy.linalg`` is already imported.
    """
    if "numba.np.arraymath" in sys.modules or "scipy.linalg" in sys.modules:
        return
    finder = _HideScipyLinalg()
    sys.meta_path.insert(0, finder)
    try:
        import numba.np.arraymath  # noqa: F401  (imported for its side effect)
    finally:
        sys.meta_path.remove(finder)
