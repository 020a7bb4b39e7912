"""Validated codec options shared by every format family."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from ._modes import OVERFLOWS, ROUNDINGS

__all__ = ["ROUNDINGS", "OVERFLOWS", "Options", "make_options", "check_float_input", "native",
           "make_random_bits", "check_random_bits", "check_key", "randomness", "is_explicit_bits",
           "explicit_bits_width"]


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

    def resolved_overflow(self, fmt: Any) -> str:
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
    fmt: Any,
    *,
    rounding: str = "nearest_even",
    overflow: str | None = None,
    axis: int = -1,
    random_bits: int | None = None,
    flush_subnormals: bool = False,
) -> Options:
    """Validate the common codec options against ``fmt`` (a format record or registered name).

    Raises:
        ValueError: naming the parameter and the allowed values.
        TypeError: ``fmt`` is neither a record nor a name.
    """
    from ._registry import get

    fmt = get(fmt)
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


def as_numpy_array(x, name: str):
    """``np.asarray(x)`` with a clear error naming ``name`` when ``x`` cannot be an array of
    numbers (ragged nested lists, unconvertible objects).

    Raises:
        TypeError: naming ``name``.
    """
    import numpy as np

    try:
        return np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array of real numbers (an array, a number or a nested "
                        f"list of numbers): {exc}") from None


def check_float_input(x, backend: str):
    """Return ``x`` as an array of an accepted float dtype, in native byte order.

    Accepted: float16, bfloat16 (ml_dtypes or JAX), float32, float64 (float64 only on NumPy or
    with JAX x64). Python floats and lists become float64 NumPy arrays; NumPy arrays in
    non-native byte order (``'>f4'`` on a little-endian machine) are converted to native order
    (the public verbs give results back in the input's dtype, byte order included).

    Raises:
        TypeError: for any other dtype, naming it.
    """

    if backend == "numpy":
        x = as_numpy_array(x, "x")
        if x.dtype.kind in "iub" or x.dtype == object:
            raise TypeError(
                f"x must be a float16/bfloat16/float32/float64 array, got dtype {x.dtype}; "
                "convert integers explicitly (e.g. x.astype(np.float32))"
            )
        if x.dtype.name not in ("float16", "bfloat16", "float32", "float64"):
            raise TypeError(f"x must be float16/bfloat16/float32/float64, got dtype {x.dtype}")
        return native(x)
    import jax.numpy as jnp

    if x.dtype.name not in ("float16", "bfloat16", "float32", "float64"):
        raise TypeError(f"x must be float16/bfloat16/float32/float64, got dtype {x.dtype}")
    return jnp.asarray(x)


def native(a):
    """NumPy array ``a`` in native byte order (``a`` itself when it already is)."""
    if a.dtype.isnative:
        return a
    return a.astype(a.dtype.newbyteorder("="))


def is_explicit_bits(key) -> bool:
    """Whether the codecs' internal ``key`` is an array of explicit random bits (what the verbs
    pass on from ``srbits=``: a NumPy or JAX integer array) rather than a seed, a
    ``numpy.random.Generator`` or a JAX PRNG key (the verbs turn legacy ``PRNGKey`` arrays into
    typed keys first, see :func:`check_key`)."""
    import numpy as np

    if isinstance(key, np.ndarray):
        return True
    if "jax" in sys.modules:
        import jax

        if isinstance(key, jax.Array):
            return not jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
    return False


_KEY_KINDS = ("an int seed, a numpy.random.Generator or a JAX PRNG key (jax.random.key, or the legacy "
              "jax.random.PRNGKey)")


def check_key(key):
    """Validate the ``key=`` of a verb: None, an int seed (a NumPy integer scalar included), a
    ``numpy.random.Generator`` or a JAX PRNG key. A legacy JAX key (``jax.random.PRNGKey``: a
    uint32 array of the default implementation's shape, (2,) for threefry) is returned as a
    typed key (``jax.random.wrap_key_data``), so that it is never read as random bits.

    Raises:
        TypeError: naming ``key``, for anything else — in particular an array of random bits,
            which goes to ``srbits=``.
    """
    import numpy as np

    if key is None or isinstance(key, np.random.Generator):
        return key
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        return key
    if "jax" in sys.modules:
        import jax

        if isinstance(key, jax.Array):
            if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
                return key
            if key.dtype == np.uint32 and key.ndim == 1:
                try:
                    return jax.random.wrap_key_data(key)  # a legacy PRNGKey
                except (TypeError, ValueError):
                    pass
            raise TypeError(f"key must be {_KEY_KINDS}, got a JAX array of dtype {key.dtype} and shape "
                            f"{tuple(key.shape)}; to give the random bits themselves, pass them as srbits=")
    if isinstance(key, np.ndarray) or hasattr(key, "__array__"):
        raise TypeError(f"key must be {_KEY_KINDS}, got an array ({type(key).__name__}); to give the random "
                        "bits themselves (one unsigned integer per element), pass them as srbits=")
    raise TypeError(f"key must be {_KEY_KINDS}, got {type(key).__name__}")


def randomness(key) -> dict:
    """The codecs' internal ``key`` as keyword arguments of a verb (``formats.encode`` /
    ``formats.quantize``): ``{"srbits": key}`` for explicit random bits, else ``{"key": key}`` —
    for families that convert their elements with the verbs."""
    return {"srbits": key} if is_explicit_bits(key) else {"key": key}


def explicit_bits_width(key) -> int:
    """Default ``random_bits`` of explicit random bits: the width of their dtype (uint8: 8,
    uint16: 16, uint32 and uint64: 32)."""
    import numpy as np

    return min(np.dtype(key.dtype).itemsize * 8, 32)


def check_random_bits(key, shape, backend: str, nbits: int):
    """Validate explicit random bits ``key`` (a verb's ``srbits=``) for an input of ``shape``;
    return them broadcast to ``shape`` as uint32 (NumPy or JAX, following ``backend``). Errors
    name ``srbits``.

    Raises:
        TypeError: if the bits are not an array of unsigned integers.
        ValueError: if their shape does not broadcast to ``shape`` or a value is not below
            ``2**nbits`` (checked whenever the values are concrete: always on NumPy, outside
            ``jax.jit`` on JAX).
    """
    import numpy as np

    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise TypeError(f"srbits must be an unsigned integer array (one value per element, below "
                        f"2**random_bits), got {type(key).__name__}")
    kind = np.dtype(key.dtype).kind
    if kind != "u":
        raise TypeError(f"srbits must be an unsigned integer array (one value per element, below "
                        f"2**random_bits), got dtype {key.dtype}")
    try:
        ok = np.broadcast_shapes(tuple(key.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"srbits of shape {tuple(key.shape)} do not broadcast to the input's shape "
                         f"{tuple(shape)} (one random integer per element)")
    if backend == "numpy" and not isinstance(key, np.ndarray):
        key = np.asarray(key)
    if isinstance(key, np.ndarray):
        key = native(key)
        if key.size and int(key.max()) >> nbits:
            raise ValueError(f"srbits must be below 2**random_bits = 2**{nbits}, got {int(key.max())}")
        out = np.broadcast_to(key, shape).astype(np.uint32)
        if backend == "numpy":
            return out
        import jax.numpy as jnp

        return jnp.asarray(out)
    import jax
    import jax.numpy as jnp

    try:
        big = bool(key.size) and bool(jnp.any((key >> nbits) != 0))
    except jax.errors.ConcretizationTypeError:
        big = False  # inside jax.jit: the values cannot be inspected
    if big:
        raise ValueError(f"srbits must be below 2**random_bits = 2**{nbits}")
    return jnp.broadcast_to(key, tuple(shape)).astype(jnp.uint32)


def make_random_bits(key, shape, backend: str, nbits: int):
    """Random integers in [0, 2**nbits) as uint32, one per element of ``shape``.

    ``key``: an int seed, a ``numpy.random.Generator`` (NumPy inputs) or a JAX PRNG key (JAX
    inputs; an int seed is also accepted and turned into ``jax.random.key(seed)``), from which
    uniform bits are drawn; or explicit random bits (what the verbs pass on from ``srbits=``: an
    unsigned integer array broadcastable to ``shape``, values below 2**nbits), which are used as
    they are (see :func:`check_random_bits`).

    Raises:
        ValueError: if ``key`` is missing or of the wrong kind.
    """
    import numpy as np

    if key is None:
        raise ValueError("rounding='stochastic' needs key= (an int seed, a numpy Generator or a JAX key) "
                         "or srbits= (the random bits, one unsigned integer per element)")
    if is_explicit_bits(key):
        return check_random_bits(key, shape, backend, nbits)
    if backend == "numpy":
        if isinstance(key, np.random.Generator):
            gen = key
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            gen = np.random.default_rng(int(key))
        else:
            raise ValueError(
                f"key must be an int seed or a numpy.random.Generator for NumPy inputs, got "
                f"{type(key).__name__} (explicit random bits go to srbits=)"
            )
        r = gen.integers(0, 2**32, size=shape, dtype=np.uint32)
        return r >> np.uint32(32 - nbits)
    import jax
    import jax.numpy as jnp

    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        key = jax.random.key(int(key))
    elif not (isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)
              and key.shape == ()):
        raise ValueError(f"key must be an int seed or one JAX PRNG key for JAX inputs, got "
                         f"{type(key).__name__} (explicit random bits go to srbits=)")
    r = jax.random.bits(key, shape, dtype=jnp.uint32)
    return r >> jnp.uint32(32 - nbits)
