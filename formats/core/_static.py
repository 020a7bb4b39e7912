"""Static scales: the ``scale=`` / ``zero_point=`` options of ``quantize`` and ``encode``.

Every family that takes them validates them here (real numbers, a shape that broadcasts to the
family's scale layout, positive finite scales, integer zero points in range) and scalar formats
get their scaled quantization, ``scale · Q(x / scale)``, here. The families that store scales
(block, scaled-integer, codebook) put the given values where they would put the ones they
compute, so a scale computed the way the format computes it gives the same codes
(:func:`formats.calibrate` with ``method="absmax"``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._backend import divide
from ._options import as_numpy_array

__all__ = ["static_array", "scaled_scalar_quantize", "work_float"]


def _xp(backend: str):
    if backend == "jax":
        import jax.numpy as jnp

        return jnp
    return np


def work_float(x, backend: str) -> str:
    """float64 for float64 inputs (JAX: with x64 on), else float32: the dtype scales are applied in."""
    if x.dtype.name == "float64":
        if backend == "jax":
            from ._backend import float64_available

            return "float64" if float64_available("jax") else "float32"
        return "float64"
    return "float32"


def _concrete_all(xp, cond) -> bool | None:
    """``bool(all(cond))`` when the values can be inspected, None inside ``jax.jit``."""
    if xp is np:
        return bool(np.all(cond))
    import jax

    try:
        return bool(xp.all(cond))
    except jax.errors.ConcretizationTypeError:
        return None


def static_array(value, name: str, shape: tuple, backend: str, dtype: str, *, kind: str = "scale",
                 lo: float | None = None, hi: float | None = None, layout: str = ""):
    """``value`` (NumPy, JAX, a list or a number) as an array of ``dtype`` broadcast to ``shape``.

    ``kind="scale"``: positive finite numbers; ``kind="zero_point"``: integers in [lo, hi].
    Values are checked whenever they are concrete (always on NumPy, outside ``jax.jit`` on JAX).

    Raises:
        TypeError: non-real values (complex, strings, objects, booleans), naming ``name``.
        ValueError: a shape that does not broadcast to ``shape`` (``layout`` says which layout
            the format uses), a non-positive or non-finite scale, a zero point that is not an
            integer in range.
    """
    xp = _xp(backend)
    a = xp.asarray(value) if backend == "jax" else as_numpy_array(value, name)
    k = np.dtype(a.dtype).kind
    if k not in "fiu":
        raise TypeError(f"{name} must hold real numbers (a float or integer array), got dtype {a.dtype}")
    try:
        ok = np.broadcast_shapes(tuple(a.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{name} of shape {tuple(a.shape)} does not broadcast to {tuple(shape)}"
                         + (f", the layout of {layout}" if layout else ""))
    a = xp.broadcast_to(a.astype(xp.dtype(dtype)), tuple(shape))
    if kind == "scale":
        good = _concrete_all(xp, xp.isfinite(a) & (a > 0))
        if good is False:
            raise ValueError(f"{name} must be positive and finite")
    else:
        good = _concrete_all(xp, (xp.round(a) == a) & (a >= lo) & (a <= hi))
        if good is False:
            raise ValueError(f"{name} must hold integers in [{lo:g}, {hi:g}]")
    return a


def scaled_scalar_quantize(codec, x, fmt, opts, key, backend: str, scale, zero_point):
    """``scale · (Q(x / scale + zero_point) − zero_point)`` for a scalar (float or integer)
    format, in x's dtype; the division and the product are each rounded once in the working
    float (float32 below float64). With a static scale, ``overflow=None`` saturates: a
    calibrated range clips, as the scaled families do. On JAX the gradient passes straight
    through (d/dx = scale · 1 / scale).

    Raises:
        ValueError: ``zero_point`` without ``scale``, a zero point on a float format, values out
            of range (see :func:`static_array`).
    """
    from ._records import IntFormat

    if scale is None:
        raise ValueError("zero_point= needs scale= (a static zero point belongs to a static scale)")
    if zero_point is not None and not isinstance(fmt, IntFormat):
        raise ValueError(f"zero_point= applies to integer formats; {fmt} is symmetric about 0")

    xp = _xp(backend)
    wd = work_float(x, backend)
    shape = tuple(x.shape)
    s = static_array(scale, "scale", shape, backend, wd, layout=f"the input (scalar format {fmt})")
    xw = x.astype(xp.dtype(wd))
    t = divide(xw, s)
    if opts.overflow is None:
        opts = dataclasses.replace(opts, overflow="saturate")
    if zero_point is None:
        return (codec.quantize(t, fmt, opts, key, backend) * s).astype(x.dtype)
    # round x/scale to an integer first, then shift by the (integer) zero point and clamp: adding
    # the zero point before rounding would round twice (ONNX QuantizeLinear's order)
    z = static_array(zero_point, "zero_point", shape, backend, wd, kind="zero_point", lo=fmt.min, hi=fmt.max)
    wide = IntFormat(32, name="int32")
    r = codec.quantize(t, wide, dataclasses.replace(opts, overflow="saturate"), key, backend) + z
    if opts.overflow == "error" and backend == "numpy" and np.any((r < fmt.min) | (r > fmt.max)):
        raise OverflowError(f"value out of range of {fmt} (overflow='error')")
    q = xp.clip(r, fmt.min, fmt.max)
    return ((q - z) * s).astype(x.dtype)
