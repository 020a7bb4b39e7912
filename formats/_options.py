"""Validated codec options shared by every format family."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

__all__ = ["ROUNDINGS", "OVERFLOWS", "Options", "make_options", "backend_of", "check_float_input"]

#: Rounding modes accepted by every codec.
ROUNDINGS = ("nearest_even", "nearest_away", "toward_zero", "up", "down", "odd", "stochastic")
#: Overflow policies; ``None`` means the format's natural behaviour.
OVERFLOWS = (None, "saturate", "inf", "nan", "error")


@dataclasses.dataclass(frozen=True)
class Options:
    """Codec options after validation (hashable: usable as a jit static argument).

    ``key`` is kept out of the hashable part: it is data, not configuration.
    """

    rounding: str = "nearest_even"
    overflow: str | None = None
    axis: int = -1
    random_bits: int = 32
    flush_subnormals: bool = False

    def resolved_overflow(self, fmt) -> str:
        """The overflow policy in force for ``fmt``: the natural one when ``overflow`` is None
        (Inf if the format has Inf, else NaN if it has NaN, else saturate — ml_dtypes' rule)."""
        if self.overflow is not None:
            return self.overflow
        if getattr(fmt, "has_inf", False):
            return "inf"
        if getattr(fmt, "has_nan", False):
            return "nan"
        return "saturate"


def make_options(
    fmt,
    *,
    rounding: str = "nearest_even",
    overflow: str | None = None,
    axis: int = -1,
    random_bits: int | None = None,
    flush_subnormals: bool = False,
) -> Options:
    """Validate the common codec options against ``fmt``.

    Raises:
        ValueError: naming the parameter and the allowed values.
    """
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    if overflow not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {OVERFLOWS}, got {overflow!r}")
    if overflow == "inf" and not getattr(fmt, "has_inf", False):
        raise ValueError(f"overflow='inf' but format {fmt} has no Inf; use 'saturate', 'nan' or 'error'")
    if overflow == "nan" and not getattr(fmt, "has_nan", False):
        raise ValueError(f"overflow='nan' but format {fmt} has no NaN; use 'saturate' or 'error'")
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"axis must be an int, got {axis!r}")
    if random_bits is not None and rounding != "stochastic":
        raise ValueError("random_bits is only used with rounding='stochastic'")
    if random_bits is None:
        random_bits = 32
    if isinstance(random_bits, bool) or not isinstance(random_bits, int) or not 1 <= random_bits <= 32:
        raise ValueError(f"random_bits must be an int in [1, 32], got {random_bits!r}")
    if not isinstance(flush_subnormals, bool):
        raise ValueError(f"flush_subnormals must be a bool, got {flush_subnormals!r}")
    return Options(rounding, overflow, axis, random_bits, flush_subnormals)


def backend_of(x: Any) -> str:
    """'jax' for JAX arrays and tracers, 'numpy' otherwise (never imports jax)."""
    if "jax" in sys.modules:
        import jax

        if isinstance(x, jax.Array):
            return "jax"
    return "numpy"


def check_float_input(x, backend: str):
    """Return ``x`` as an array of an accepted float dtype.

    Accepted: float16, bfloat16 (ml_dtypes or JAX), float32, float64 (float64 only on NumPy or
    with JAX x64). Python floats and lists become float64 NumPy arrays.

    Raises:
        TypeError: for any other dtype, naming it.
    """
    import numpy as np

    if backend == "numpy":
        x = np.asarray(x)
        if x.dtype.kind in "iub" or x.dtype == object:
            raise TypeError(
                f"x must be a float16/bfloat16/float32/float64 array, got dtype {x.dtype}; "
                "convert integers explicitly (e.g. x.astype(np.float32))"
            )
        if x.dtype.name not in ("float16", "bfloat16", "float32", "float64"):
            raise TypeError(f"x must be float16/bfloat16/float32/float64, got dtype {x.dtype}")
        return x
    import jax.numpy as jnp

    if x.dtype.name not in ("float16", "bfloat16", "float32", "float64"):
        raise TypeError(f"x must be float16/bfloat16/float32/float64, got dtype {x.dtype}")
    return jnp.asarray(x)


def make_random_bits(key, shape, backend: str, nbits: int):
    """Uniform random integers in [0, 2**nbits) as uint32, from ``key``.

    ``key``: an int seed, a ``numpy.random.Generator`` (NumPy inputs) or a JAX PRNG key (JAX
    inputs; an int seed is also accepted and turned into ``jax.random.key(seed)``).

    Raises:
        ValueError: if ``key`` is missing or of the wrong kind.
    """
    import numpy as np

    if key is None:
        raise ValueError("rounding='stochastic' needs key= (an int seed, numpy Generator or JAX key)")
    if backend == "numpy":
        if isinstance(key, np.random.Generator):
            gen = key
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            gen = np.random.default_rng(int(key))
        else:
            raise ValueError(
                f"key must be an int seed or numpy.random.Generator for NumPy inputs, got {type(key).__name__}"
            )
        r = gen.integers(0, 2**32, size=shape, dtype=np.uint32)
        return r >> np.uint32(32 - nbits)
    import jax
    import jax.numpy as jnp

    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        key = jax.random.key(int(key))
    r = jax.random.bits(key, shape, dtype=jnp.uint32)
    return r >> jnp.uint32(32 - nbits)
