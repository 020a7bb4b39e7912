"""Calibration: static scales (and zero points) for a format, from calibration data.

:func:`calibrate` picks, per group of the format's scale layout (tensor, channel, group, block),
a clipping threshold t — or a range [lo, hi] for asymmetric formats — by one of four methods,
and turns it into the scale the format would store for a group whose absolute maximum is t.
``quantize`` / ``encode`` take the result as ``scale=`` / ``zero_point=`` (``tensor_scale=``
for two-level formats): ``formats.quantize(x, fmt, **formats.calibrate(x_calib, fmt, ...))``.

Methods (the calibrators of TensorRT / pytorch-quantization and the PTQ literature):

* ``absmax`` — t = max |x|: exactly the scale the format computes on the fly (so static and
  dynamic codes agree on the calibration data);
* ``percentile`` — t between the ⌊f·N⌋-th and the (⌊f·N⌋+1)-th largest |x| of the group,
  f = 1 − percentile/100: exactly ⌊f·N⌋ of its N values lie beyond ±t (asymmetric formats clip
  ⌊f·N/2⌋ values at each end);
* ``sigma`` — t = |μ| + k·σ (μ, σ: mean and standard deviation of the group), at most max |x|
  (asymmetric: [μ − kσ, μ + kσ] within [min, max]);
* ``mse`` — the threshold r·max|x| over a grid of ratios r that minimizes the group's sum of
  squared quantization errors (a brute-force search: every candidate is quantized with the
  format itself).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import math
import sys
from fractions import Fraction
from typing import Any

import numpy as np

from ..block._block import (
    BlockFormat,
    jax_float,
    ldexp_bits,
    normalize_axis,
    pow2_scale_exponents,
    to_blocks,
)
from ..block._codebook import CodebookFormat
from ..block._scaled import ScaledIntFormat, _scale_shape, _stat_view, _store_scale
from ..core._backend import backend_of, bitcast, divide, namespace
from ..core._codec import quantize
from ..core._options import ROUNDINGS, check_float_input
from ..core._records import FloatFormat, IntFormat
from ..core._registry import resolve

__all__ = ["calibrate", "Calibration", "CALIBRATION_METHODS"]

#: Methods of :func:`calibrate`.
CALIBRATION_METHODS = ("absmax", "percentile", "mse", "sigma")

_OPTIONS: dict[str, dict[str, Any]] = {"absmax": {}, "percentile": {"percentile": 99.99}, "sigma": {"k": 3.0},
            "mse": {"grid": 100, "rounding": "nearest_even"}}

_JAX_REGISTERED = False


def _register_with_jax() -> None:
    global _JAX_REGISTERED
    if _JAX_REGISTERED or "jax" not in sys.modules:
        return
    import jax

    jax.tree_util.register_pytree_node(
        Calibration,
        lambda c: ((c.scale, c.zero_point, c.tensor_scale), c.method),
        lambda method, ch: Calibration(*ch, method=method))
    _JAX_REGISTERED = True


@dataclasses.dataclass(frozen=True, eq=False)
class Calibration(collections.abc.Mapping):
    """Static scales from :func:`calibrate`, ready for ``quantize`` / ``encode``.

    A mapping of the keyword options it sets — ``scale``, plus ``zero_point`` (asymmetric
    formats) and ``tensor_scale`` (two-level block formats such as NVFP4) where they apply — so
    ``formats.quantize(x, fmt, **cal)`` uses it; the fields are also attributes. A JAX pytree
    (it passes through ``jax.jit``).

    Attributes:
        scale: the scales, in the layout ``scale=`` takes for the format.
        zero_point: integer zero points (same shape), or None.
        tensor_scale: the per-tensor scale of a two-level block format, or None.
        method: the calibration method that produced it.
    """

    scale: Any
    zero_point: Any = None
    tensor_scale: Any = None
    method: str = "absmax"

    def __post_init__(self):
        if not _JAX_REGISTERED and "jax" in sys.modules:
            _register_with_jax()

    def _keys(self):
        return [k for k in ("scale", "zero_point", "tensor_scale") if getattr(self, k) is not None]

    def __getitem__(self, k):
        if k not in self._keys():
            raise KeyError(k)
        return getattr(self, k)

    def __iter__(self):
        return iter(self._keys())

    def __len__(self):
        return len(self._keys())

    __eq__ = object.__eq__
    __hash__ = object.__hash__


# ------------------------------------------------------------------------------ layouts
class _Layout:
    """How ``fmt`` groups the elements of an array that share a scale, for one input."""

    def __init__(self, fmt, x, axis, backend):
        self.fmt, self.backend = fmt, backend
        self.xp = xp = namespace(backend)
        self.shape = tuple(x.shape)
        wd = "float64" if x.dtype.name == "float64" else "float32"
        self.wd = jax_float(wd) if backend == "jax" else wd
        self.W = 64 if self.wd == "float64" else 32
        xw = x.astype(xp.dtype(self.wd))
        self.ax = None
        if isinstance(fmt, (FloatFormat, IntFormat)):
            if axis is not None:
                xw = xw.reshape(1) if xw.ndim == 0 else xw
                self.ax = normalize_axis(_int_axis(axis), xw.ndim)
            self.kind = "scalar"
        elif isinstance(fmt, ScaledIntFormat):
            if fmt.granularity != "tensor":
                xw = xw.reshape(1) if xw.ndim == 0 else xw
                self.ax = normalize_axis(_int_axis(-1 if axis is None else axis), xw.ndim)
            self.kind = "scaled"
        elif isinstance(fmt, (BlockFormat, CodebookFormat)):
            if isinstance(fmt, CodebookFormat) and fmt.scale_rule != "absmax":
                raise ValueError(f"calibrate supports codebook formats with scale_rule='absmax'; {fmt} has "
                                 f"{fmt.scale_rule!r}")
            if fmt.block_size is not None or isinstance(fmt, BlockFormat):
                xw = xw.reshape(1) if xw.ndim == 0 else xw
                self.ax = normalize_axis(_int_axis(-1 if axis is None else axis), xw.ndim)
            self.kind = "block" if isinstance(fmt, BlockFormat) else "codebook"
        else:
            raise TypeError(f"calibrate supports float, integer, scaled-integer, block and codebook formats, got "
                            f"{type(fmt).__name__}")
        self.work_shape = tuple(xw.shape)
        self.xw = xw
        self.xv = self.view(xw)
        real = self.view(xp.ones(self.work_shape, dtype=bool))
        self.valid = real & xp.isfinite(self.xv)

    def view(self, a):
        """``a`` (of the input's shape) as (..., G, L): G groups sharing a scale."""
        xp, fmt = self.xp, self.fmt
        a = a.reshape(self.work_shape)
        if self.kind == "scalar":
            if self.ax is None:
                return a.reshape(1, 1, -1)
            moved = xp.moveaxis(a, self.ax, 0)
            return moved.reshape(moved.shape[0], 1, -1)
        if self.kind == "scaled":
            return _stat_view(xp, a, fmt, 0 if self.ax is None else self.ax)
        if fmt.block_size is None:  # codebook with one scale per tensor
            return a.reshape(1, -1)
        return to_blocks(xp, a, self.ax, fmt.block_size)

    def out(self, g):
        """Per-group values (..., G) in the layout ``scale=`` takes."""
        fmt = self.fmt
        if self.kind == "scalar":
            if self.ax is None:
                return g.reshape(())
            keep = [1] * len(self.work_shape)
            keep[self.ax] = self.work_shape[self.ax]
            return g.reshape(tuple(keep)) if len(self.shape) else g.reshape(())
        if self.kind == "scaled":
            return g.reshape(_scale_shape(fmt, g.shape))
        if self.kind == "codebook" and fmt.block_size is None:
            return g.reshape(())
        return g

    @property
    def symmetric(self) -> bool:
        f = self.fmt
        if self.kind == "scalar":
            return not (isinstance(f, IntFormat) and not f.signed)
        if self.kind == "scaled":
            return f.symmetric
        return True

    def options(self):
        return {} if self.ax is None else {"axis": self.ax}


def _int_axis(axis):
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise ValueError(f"axis must be an int or None, got {axis!r}")
    return int(axis)


# ------------------------------------------------------------------------------ thresholds
def _masked(xp, v, valid, fill):
    return xp.where(valid, v, xp.asarray(fill, dtype=v.dtype))


def _absmax(L):
    xp = L.xp
    a = _masked(xp, xp.abs(L.xv), L.valid, 0)
    return xp.max(a, axis=-1) if a.shape[-1] else xp.zeros(a.shape[:-1], a.dtype)


def _minmax(L):
    xp = L.xp
    if not L.xv.shape[-1]:
        z = xp.zeros(L.xv.shape[:-1], L.xv.dtype)
        return z, z
    return (xp.min(_masked(xp, L.xv, L.valid, np.inf), axis=-1),
            xp.max(_masked(xp, L.xv, L.valid, -np.inf), axis=-1))


def _count(L):
    return L.xp.sum(L.valid, axis=-1)


def _nth(xp, sorted_v, idx):
    """sorted_v[..., idx] for per-group indices ``idx`` (clipped into range)."""
    n = sorted_v.shape[-1]
    i = xp.clip(idx, 0, max(n - 1, 0)).astype(np.int32 if xp is not np else np.int64)
    return xp.take_along_axis(sorted_v, i[..., None], axis=-1)[..., 0]


def _fraction(p) -> Fraction:
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0 < p <= 100:
        raise ValueError(f"percentile must be a number in (0, 100], got {p!r}")
    return (100 - Fraction(repr(float(p)))) / 100  # the decimal as written: 99.9 -> 1/1000


def _percentile(L, p, symmetric):
    """Thresholds beyond which exactly ⌊f·N⌋ values of each group lie."""
    xp = L.xp
    f = _fraction(p)
    N = _count(L).astype(np.int64 if xp is np else xp.int32)
    if not L.xv.shape[-1]:
        z = xp.zeros(L.xv.shape[:-1], L.xv.dtype)
        return (z, z, z)
    if symmetric:
        n_clip = (N * f.numerator) // f.denominator
        s = xp.sort(_masked(xp, xp.abs(L.xv), L.valid, np.nan), axis=-1)  # NaN (invalid) last
        kept = _nth(xp, s, N - 1 - n_clip)
        clipped = _nth(xp, s, N - n_clip)
        t = xp.where(n_clip > 0, kept + (clipped - kept) / 2, kept)
        return (xp.where(N > 0, t, 0), None, None)
    n_end = (N * f.numerator) // (2 * f.denominator)
    s = xp.sort(_masked(xp, L.xv, L.valid, np.nan), axis=-1)
    hi_k, hi_c = _nth(xp, s, N - 1 - n_end), _nth(xp, s, N - n_end)
    lo_k, lo_c = _nth(xp, s, n_end), _nth(xp, s, n_end - 1)
    hi = xp.where(n_end > 0, hi_k + (hi_c - hi_k) / 2, hi_k)
    lo = xp.where(n_end > 0, lo_k + (lo_c - lo_k) / 2, lo_k)
    return (None, xp.where(N > 0, lo, 0), xp.where(N > 0, hi, 0))


def _sigma(L, k, symmetric):
    if isinstance(k, bool) or not isinstance(k, (int, float, np.integer, np.floating)) or not 0 < k < math.inf:
        raise ValueError(f"k must be a positive finite number, got {k!r}")
    xp = L.xp
    N = xp.maximum(_count(L), 1).astype(L.xv.dtype)
    v = _masked(xp, L.xv, L.valid, 0)
    mu = xp.sum(v, axis=-1) / N
    var = xp.sum(_masked(xp, (L.xv - mu[..., None]) ** 2, L.valid, 0), axis=-1) / N
    sd = xp.sqrt(var)
    if symmetric:
        return (xp.minimum(xp.abs(mu) + k * sd, _absmax(L)), None, None)
    lo, hi = _minmax(L)
    return (None, xp.maximum(lo, mu - k * sd), xp.minimum(hi, mu + k * sd))


# ------------------------------------------------------------------------------ scales
def _tensor_scale(L):
    """The per-tensor scale a two-level block format computes (NVFP4: amax / (448·6), at least
    TS_MIN, rounded to float32), from the blocks without Inf/NaN, as the codec does."""
    from ..block._block import TS_MIN

    xp, fmt = L.xp, L.fmt
    fdt = xp.dtype(L.wd)
    finite_block = xp.all(L.valid | ~L.view(xp.ones(L.work_shape, dtype=bool)), axis=-1)
    amax = xp.where(finite_block, _absmax(L), 0)
    t = xp.max(amax) if amax.size else fdt.type(0)
    ts = xp.maximum(divide(t, fdt.type(fmt.element_max * fmt.scale.max)), fdt.type(TS_MIN))
    return quantize(ts.reshape(1), fmt.tensor_scale, rounding="nearest_even", overflow="saturate").reshape(())


def _scales(L, t, lo, hi, ts):
    """(scale (..., G), zero point (..., G) or None) that the format uses for a group with
    absolute maximum ``t`` (symmetric) or range [lo, hi] (asymmetric)."""
    xp, fmt = L.xp, L.fmt
    fdt = xp.dtype(L.wd)
    if L.kind == "block":
        U = "uint64" if L.W == 64 else "uint32"
        if fmt.scale_rule == "amax":
            s = divide(t, fdt.type(fmt.element_max))
            if ts is not None:
                s = divide(s, ts.astype(fdt))
            s = xp.clip(s, fdt.type(fmt.scale.smallest_normal), fdt.type(fmt.scale.max))
            return quantize(s, fmt.scale, rounding="nearest_even", overflow="saturate"), None  # as stored
        kmin, kmax = fmt.scale_exponent_range
        k = xp.clip(pow2_scale_exponents(xp, bitcast(t, U), fmt, L.W), kmin, kmax)
        one = bitcast(xp.ones(t.shape, fdt), U)
        return bitcast(ldexp_bits(xp, one, k, L.W), L.wd), None
    if L.kind == "codebook":
        return xp.where(t > 0, t, fdt.type(1)), None
    if L.kind == "scalar":
        if L.symmetric:
            s = divide(t, fdt.type(fmt.max))
            return xp.where(s > 0, s, fdt.type(1)), None
        qmin, qmax = fmt.min, fmt.max
        lo, hi = xp.minimum(lo, 0), xp.maximum(hi, 0)
        s = divide(hi - lo, fdt.type(qmax - qmin))
        s = xp.where(s > 0, s, fdt.type(1))
        return s, _zero_point(xp, lo, s, qmin, qmax, fdt)
    qmin, qmax = fmt.qmin, fmt.qmax  # scaled integers, as _scaled._encode_scaled
    if fmt.symmetric:
        s = divide(t, fdt.type(qmax))
        return xp.where(s > 0, s, fdt.type(1)), None
    lo, hi = xp.minimum(lo, 0), xp.maximum(hi, 0)
    s = divide(hi - lo, fdt.type(qmax - qmin))
    s = xp.where(s > 0, s, fdt.type(1))
    _, s_val, _ = _store_scale(xp, s, fmt, L.wd)  # the zero point is taken against the stored scale
    return s, _zero_point(xp, lo, s_val, qmin, qmax, fdt)


def _zero_point(xp, lo, s, qmin, qmax, fdt):
    zp = fdt.type(qmin) - quantize(divide(lo, s), "int32", rounding="nearest_even")
    return xp.clip(zp, fdt.type(qmin), fdt.type(qmax))


def _grid(grid):
    if isinstance(grid, (int, np.integer)) and not isinstance(grid, bool):
        if grid < 1:
            raise ValueError(f"grid must be a positive int or a sequence of ratios in (0, 1], got {grid!r}")
        return [i / int(grid) for i in range(int(grid), 0, -1)]
    try:
        r = [float(v) for v in grid]
    except (TypeError, ValueError):
        raise ValueError(f"grid must be a positive int or a sequence of ratios in (0, 1], got {grid!r}") from None
    if not r or not all(0 < v <= 1 for v in r):
        raise ValueError(f"grid ratios must lie in (0, 1], got {grid!r}")
    return r


# ------------------------------------------------------------------------------ calibrate
def calibrate(x: Any, fmt: Any, *, method: str = "absmax", axis: int | None = None, **options: Any) -> Calibration:
    """Static scales (and zero points) of ``fmt`` for data like ``x``.

    Args:
        x: calibration data, a float NumPy or JAX array (works under ``jax.jit``). NaN and ±Inf
            are left out of every statistic.
        fmt: a format record or name — a ``FloatFormat`` or ``IntFormat`` (scaled as
            ``scale · Q(x / scale)``; unsigned integers get a zero point), a
            ``ScaledIntFormat``, a ``BlockFormat`` (MX, NVFP4, BFP) or a ``CodebookFormat``
            with ``scale_rule="absmax"`` (NF4).
        method: one of :data:`CALIBRATION_METHODS` (see the module notes).
        axis: the axis of ``x`` as ``encode`` reads it for this format — the channel axis of a
            per-channel ``ScaledIntFormat``, the blocking axis of group, block and codebook
            formats (default −1); for float and integer formats None (default) gives one scale
            per tensor and an int one scale per index along that axis.
        **options: ``percentile=99.99`` (percentile, in (0, 100]); ``k=3.0`` (sigma);
            ``grid=100`` (mse: the number of ratios 1, (g−1)/g, …, 1/g, or a sequence of
            ratios in (0, 1]) and ``rounding="nearest_even"`` (mse: the rounding the errors are
            measured with).

    Returns:
        :class:`Calibration` — ``formats.quantize(y, fmt, **cal)`` quantizes with it (pass
        the same ``axis``). ``scale`` has the layout ``scale=`` takes: ``()`` or x's shape with
        1s except along ``axis`` (float/int formats), the scale-code shape (scaled integers),
        ``(*other_dims, n_blocks)`` (block and codebook formats; NVFP4's relative to its
        ``tensor_scale``, which is the format's own amax/(448·6)).

    Oracles (tested): ``absmax`` reproduces the format's dynamic codes exactly; ``mse`` equals
    a brute-force argmin over the same ratios (ties to the first, the largest ratio);
    ``percentile`` leaves exactly ⌊f·N⌋ values of each group beyond its range.

    Raises:
        ValueError: an unknown method or option value, a bad axis.
        TypeError: an unsupported format family or input dtype, an option the method does
            not take.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    unknown = set(options) - set(_OPTIONS[method])
    if unknown:
        raise TypeError(f"unexpected option(s) for method={method!r}: {', '.join(sorted(unknown))}; "
                        f"it takes {sorted(_OPTIONS[method]) or 'none'}")
    opt = dict(_OPTIONS[method], **options)
    fmt = resolve(fmt)
    backend = backend_of(x)
    x = check_float_input(x, backend)
    L = _Layout(fmt, x, axis, backend)
    ts = _tensor_scale(L) if L.kind == "block" and fmt.tensor_scale is not None else None
    sym = L.symmetric
    if method == "absmax":
        t, (lo, hi) = (_absmax(L), (None, None)) if sym else (None, _minmax(L))
    elif method == "percentile":
        t, lo, hi = _percentile(L, opt["percentile"], sym)
    elif method == "sigma":
        t, lo, hi = _sigma(L, opt["k"], sym)
    else:
        return _mse(L, x, opt, ts)
    s, zp = _scales(L, t, lo, hi, ts)
    return Calibration(L.out(s), None if zp is None else L.out(zp), ts, method)


def _mse(L, x, opt, ts) -> Calibration:
    """Per group, the candidate ratio r (in grid order) whose scale gives the least sum of
    squared errors; the first of equal errors wins."""
    rounding = opt["rounding"]
    if rounding not in ROUNDINGS or rounding == "stochastic":
        raise ValueError(f"rounding must be one of {tuple(r for r in ROUNDINGS if r != 'stochastic')}, "
                         f"got {rounding!r}")
    xp = L.xp
    ratios = _grid(opt["grid"])
    if L.symmetric:
        base_t, (base_lo, base_hi) = _absmax(L), (None, None)
    else:
        base_t, (base_lo, base_hi) = None, _minmax(L)
    fdt = xp.dtype(L.wd)
    extra = L.options()
    if ts is not None:
        extra["tensor_scale"] = ts
    best = best_s = best_z = None
    for r in ratios:
        rr = fdt.type(r)
        s, zp = _scales(L, None if base_t is None else base_t * rr, None if base_lo is None else base_lo * rr,
                        None if base_hi is None else base_hi * rr, ts)
        kw = dict(extra, scale=L.out(s))
        if zp is not None:
            kw["zero_point"] = L.out(zp)
        q = quantize(L.xw, L.fmt, rounding=rounding, **kw)
        d = L.view(q.astype(fdt) - L.xw)
        err = xp.sum(xp.where(L.valid, d * d, fdt.type(0)), axis=-1)
        if best is None:
            best, best_s, best_z = err, s, zp
        else:
            better = err < best
            best = xp.where(better, err, best)
            best_s = xp.where(better, s, best_s)
            if zp is not None:
                best_z = xp.where(better, zp, best_z)
    return Calibration(L.out(best_s), None if best_z is None else L.out(best_z), ts, "mse")
