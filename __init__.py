"""lowbit: bit-exact low-precision number formats, emulated quantized GEMMs and layers, and cost
models of the hardware that computes with them.

Three packages, imported one way (``formats`` ← ``hwmodels`` ← ``simulator``)::

    from lowbit import formats, hwmodels, simulator

``import lowbit`` is cheap: the packages load on first use (``lowbit.formats`` works after a
bare ``import lowbit``), and neither ``import lowbit`` nor ``import lowbit.formats`` loads JAX,
Numba or PyTorch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.2.0"
__all__ = ["__version__", "formats", "hwmodels", "simulator"]

if TYPE_CHECKING:  # pragma: no cover
    from . import formats as formats
    from . import hwmodels as hwmodels
    from . import simulator as simulator

_PACKAGES = ("formats", "hwmodels", "simulator")


def __getattr__(name: str):
    """Load ``formats``, ``hwmodels`` and ``simulator`` on first attribute access (PEP 562)."""
    if name in _PACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PACKAGES))
