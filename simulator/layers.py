"""Quantized layers on the emulated dot-product unit: Linear, Conv2d (im2col) and attention.

Each layer quantizes its operands to per-operand formats, runs the GEMMs through
:func:`simulator.matmul` (so the accumulator, order, chunking and multiplier are those of the
hardware you describe), and applies an epilogue; ``reference`` computes the same layer in float64
and ``compare`` gives :class:`simulator.Metrics` of the emulation against it.

Scaling (``scaling=``) maps an operand onto its format before quantization:

* ``"none"``: values are quantized as they are (FP8 with no scale; block formats, whose block
  scales are part of the format);
* ``"tensor"``: one scale s = amax / max(format) per tensor;
* ``"channel"``: one scale per row of the activations (per token) and per output channel of
  the weights (scales never vary along the reduction axis, so they factor out of each dot
  product and are applied after accumulation);
* ``"auto"`` (default): ``"tensor"`` for activations and ``"channel"`` for weights in integer
  formats, ``"none"`` otherwise.

amax maps onto the format's max unless a sum of K products at that size could overflow the
accumulator (K·max_a·max_b > the accumulator's max: bfloat16, tf32, float32 or float64 operands
into a float32 accumulator, FP8 into float16); then amax maps onto a smaller power of two that
keeps every partial sum inside the accumulator (and the chunk accumulator of ``k_chunk``), with
one bit of headroom. Float formats keep their relative precision; the result no longer
overflows to Inf/NaN.

Scales are float32 numbers (amax / target rounded to float32; 1 for an all-zero tensor). The
epilogue multiplies the accumulator by both scales and adds the bias in float64 and rounds once
to ``output_format`` (float32 by default): an idealised epilogue, the GEMM itself is bit-exact.

Non-GEMM arithmetic (scaling, softmax) is done in float64 with NumPy. Operand arrays are NumPy;
pass ``backend="jax"`` to run the GEMMs on the JAX backend (identical results).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, TypeAlias

import numpy as np
from numpy.typing import ArrayLike

from lowbit.formats import FloatFormat, IntFormat

from .emulate._accumulate import resolve_format
from .emulate._compare import Metrics, as_real_array, compare, flip_rate, softmax
from .emulate._matmul import _is_block_format
from .emulate._matmul_dispatch import matmul
from .emulate._recipes import low_rank_residual as low_rank_residual
from .emulate._recipes import outlier_columns as outlier_columns
from .emulate._recipes import sparse_outliers as sparse_outliers

#: a format argument: a record, a registered name, or None (the array's own)
Fmt: TypeAlias = Any
#: an int, or an (h, w) pair of ints
Pair: TypeAlias = "int | tuple[int, int]"

__all__ = ["linear", "linear_parts", "conv2d", "attention", "im2col", "Linear", "Conv2d", "Attention",
           "AttentionResult", "SCALINGS", "outlier_columns", "sparse_outliers", "low_rank_residual"]

SCALINGS = ("auto", "none", "tensor", "channel")


# ------------------------------------------------------------------------------ helpers
def _fmt(f, param: str):
    """Operand format; None means unquantized float32 (the baseline of a float32 layer)."""
    return resolve_format("float32" if f is None else f, param)


def _bias(bias, n: int):
    """``bias`` as a float64 (n,) array (None stays None).

    Raises:
        ValueError: another shape (NumPy would broadcast a (1,) bias silently).
    """
    if bias is None:
        return None
    b = as_real_array(bias, "bias")
    if b.shape != (n,):
        raise ValueError(f"bias must have shape ({n},) (out_features), got {b.shape}")
    return b


def _scale_mode(fmt, scaling: str, role: str) -> str:
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if fmt is None or _is_block_format(fmt):
        if scaling in ("tensor", "channel") and fmt is not None:
            raise ValueError(f"scaling={scaling!r} does not apply to block format {fmt} (it scales itself)")
        return "none"
    if scaling == "auto":
        if isinstance(fmt, IntFormat):
            return "channel" if role == "w" else "tensor"
        return "none"
    return scaling


def _fmt_max(fmt) -> float:
    return float(fmt.max)


_F32_TINY = float(np.finfo(np.float32).smallest_subnormal)


def _scales(x, fmt, mode: str, k_axis: int, target: float, role: str, calib=None):
    """float32 scales broadcastable to ``x``: amax / target over the whole tensor (``tensor``)
    or along the reduction axis ``k_axis`` only (``channel``: one scale per row of a left
    operand, per column of a right operand, per batch entry — scales never vary along K, so
    they factor out of the dot products). ``target`` is what amax maps to (:func:`_targets`).
    With a calibration (``calib``), the calibrated clipping threshold takes amax's place.

    A scale below float32's range is raised to its smallest subnormal (the values then land
    below ``target``, never above); a finite amax whose scale exceeds float32 is an error."""
    if mode == "none":
        return None
    a = np.abs(np.asarray(x, dtype=np.float64))
    if calib is not None:
        amax = _recipes_calibrated_amax(x, fmt, mode, k_axis, calib, role)
    elif mode == "tensor":
        amax = np.max(a, initial=0.0)
    else:
        amax = np.max(a, axis=k_axis, keepdims=True, initial=0.0)
    with np.errstate(over="ignore"):
        s = np.where(amax > 0, amax / target, 1.0).astype(np.float32).astype(np.float64)
    if np.any(np.isinf(s) & np.isfinite(amax)):
        raise ValueError(f"{role}: max|x| = {float(np.max(amax)):.6g} needs a scale beyond float32's range "
                         f"with {fmt} (scales are float32)")
    return np.where((s == 0) & (amax > 0), _F32_TINY, s)


def _targets(a, af, amode, b, bf, bmode, K, accumulator, matmul_kwargs):
    """The values that amax maps to for the two operands of ``a @ b`` (``None`` where unscaled).

    The format's max, unless that lets a K-term sum of products overflow an accumulation stage:
    |product| ≤ T_a·T_b, so every partial sum of n terms is at most n·T_a·T_b, and that must
    not exceed the stage's max (the accumulator over K terms; with ``k_chunk`` and
    ``chunk_accumulator`` also the chunk accumulator over ``k_chunk`` terms). Where it would,
    the targets are lowered to powers of two with one bit of headroom, split evenly between two
    scaled operands (an unscaled operand counts with its data's amax). Float formats lose no
    precision by this (their relative precision does not depend on the magnitude, down to the
    format's normal range); it engages for wide formats (bfloat16, float32, tf32, float64 into a
    float32 accumulator), narrow accumulators (float16 with FP8 operands), and int8 × int8 into
    int32 only beyond K = 2^31 / 127² ≈ 133 000."""
    ta = _fmt_max(af) if amode != "none" else None
    tb = _fmt_max(bf) if bmode != "none" else None
    if ta is None and tb is None:
        return ta, tb
    from .emulate._accumulate import as_accumulator
    from .emulate._matmul import default_accumulator

    acc = (default_accumulator(af, bf, matmul_kwargs.get("multiplier", "exact")) if accumulator is None
           else as_accumulator(accumulator))
    stages = [(acc, K)]
    k_chunk, cacc = matmul_kwargs.get("k_chunk"), matmul_kwargs.get("chunk_accumulator")
    if isinstance(k_chunk, (int, np.integer)) and not isinstance(k_chunk, bool) and k_chunk >= 1:
        stages.append((acc if cacc is None else as_accumulator(cacc, param="chunk_accumulator"), min(k_chunk, K)))
    limit = min(math.log2(float(st.format.max)) - math.log2(max(n, 1)) for st, n in stages)

    def unscaled(x):
        m = float(np.max(np.abs(np.asarray(x, dtype=np.float64)), initial=0.0))
        return math.log2(m) if 0 < m < math.inf else None

    ea = math.log2(ta) if ta is not None else unscaled(a)
    eb = math.log2(tb) if tb is not None else unscaled(b)
    if ea is None or eb is None or ea + eb <= limit:
        return ta, tb
    limit -= 1  # headroom: rounding of unscaled operands, approximate multipliers
    if ta is not None and tb is not None:
        if ea <= limit / 2:
            eb = limit - ea
        elif eb <= limit / 2:
            ea = limit - eb
        else:
            ea = eb = limit / 2
    elif ta is not None:
        ea = limit - eb
    else:
        eb = limit - ea
    return (None if ta is None else min(ta, 2.0 ** math.floor(ea)),
            None if tb is None else min(tb, 2.0 ** math.floor(eb)))


def _prep(x, fmt, mode, k_axis, target=None, role="x", calib=None):
    """(scaled values, scale) with x ≈ scale · values; amax (or a calibrated threshold) maps to
    ``target`` (default the format's max). Block formats with a calibration come back encoded
    (a :class:`formats.QArray` with the calibrated block scales), blocked along K."""
    x = np.asarray(x, dtype=np.float64)
    if calib is not None and _is_block_format(fmt):
        return _encode_calibrated(x, fmt, k_axis, calib, role), None
    if mode == "none":
        return x, None
    s = _scales(x, fmt, mode, k_axis, _fmt_max(fmt) if target is None else target, role, calib)
    return x / s, s


def _prep_pair(a, af, amode, b, bf, bmode, accumulator, matmul_kwargs, roles=("x", "w"), calibs=(None, None)):
    """Both operands of ``a @ b`` scaled (a along its last axis, b along axis -2, the reduction
    axis K): (a values, a scale, b values, b scale), with targets from :func:`_targets`."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    amode, bmode = (_calibrated_mode(f, m, c) for f, m, c in ((af, amode, calibs[0]), (bf, bmode, calibs[1])))
    ta, tb = _targets(a, af, amode, b, bf, bmode, a.shape[-1], accumulator, matmul_kwargs)
    av, sa = _prep(a, af, amode, -1, ta, roles[0], calibs[0])
    bv, sb = _prep(b, bf, bmode, -2, tb, roles[1], calibs[1])
    return av, sa, bv, sb


def _calibrated_mode(fmt, mode, calib):
    """A calibrated operand in a scalar format is scaled: per tensor where it would not be."""
    if calib is None or fmt is None or _is_block_format(fmt) or mode != "none":
        return mode
    return "tensor"


def _recipes_calibrated_amax(x, fmt, mode, k_axis, calib, role):
    """The clipping threshold that :func:`formats.calibrate` picks (or a static
    :class:`formats.Calibration` holds), shaped as amax would be: scale · max(format)."""
    from lowbit import formats

    x = np.asarray(x, dtype=np.float64)
    if isinstance(calib, formats.Calibration):
        cal = calib
    else:
        moved = np.moveaxis(x, k_axis, -1)
        flat = moved.reshape(-1, moved.shape[-1]) if moved.ndim else moved.reshape(1, 1)
        cal = formats.calibrate(flat, fmt, axis=None if mode == "tensor" else 0, **calib)
        if mode != "tensor":
            sc = np.asarray(cal.scale).reshape(moved.shape[:-1] + (1,))
            cal = formats.Calibration(np.moveaxis(sc, -1, k_axis), cal.zero_point, None, cal.method)
    if cal.zero_point is not None:
        raise ValueError(f"calibration of {role}: layers scale symmetrically; {fmt} is asymmetric (zero point) — "
                         "use a signed format")
    s = np.asarray(cal.scale, dtype=np.float64)
    try:
        np.broadcast_shapes(s.shape, x.shape)
    except ValueError:
        raise ValueError(f"calibration of {role}: scale of shape {s.shape} does not broadcast to the operand's "
                         f"shape {x.shape}") from None
    if mode == "tensor" and s.size != 1:
        raise ValueError(f"calibration of {role}: a per-tensor scale must be one number, got shape {s.shape}")
    return s * _fmt_max(fmt)


def _encode_calibrated(x, fmt, k_axis, calib, role):
    """A block-format operand encoded with calibrated block scales (blocked along K)."""
    from lowbit import formats

    axis = k_axis % x.ndim
    cal = calib if isinstance(calib, formats.Calibration) else formats.calibrate(x, fmt, axis=axis, **calib)
    return formats.encode(x, fmt, axis=axis, **cal)


def _epilogue(acc, scales, bias, output_format):
    y = np.asarray(acc).astype(np.float64)
    for s in scales:
        if s is not None:
            y = y * s
    if bias is not None:
        y = y + bias
    return _round_out(y, output_format)


def _round_out(y, output_format):
    if output_format is None:
        return y
    fmt = resolve_format(output_format, "output_format")
    if isinstance(fmt, FloatFormat) and (fmt.exponent_bits, fmt.mantissa_bits) == (8, 23):
        with np.errstate(over="ignore"):
            return y.astype(np.float32)
    from lowbit import formats

    return formats.quantize(y, fmt)


def _gemm(x, w_t, *, x_format, w_format, scaling, matmul_kwargs, calibs=(None, None)):
    """x (..., M, K) @ w_t (K, N) with per-operand formats and scaling; returns (acc, sx, sw)."""
    xf, wf = _fmt(x_format, "x_format"), _fmt(w_format, "w_format")
    xs, sx, ws, sw = _prep_pair(x, xf, _scale_mode(xf, scaling, "x"), w_t, wf, _scale_mode(wf, scaling, "w"),
                                matmul_kwargs.get("accumulator"), matmul_kwargs, calibs=calibs)
    acc = matmul(xs, ws, a_format=xf, b_format=wf, **matmul_kwargs)
    return np.asarray(acc), sx, sw


# ------------------------------------------------------------------------------ linear
def linear(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None, *, x_format: Fmt = None,
           w_format: Fmt = None, accumulator: Any = None, scaling: str = "auto", output_format: Fmt = "float32",
           rotation: Any = None, calibration: Any = None, outliers: Any = None, low_rank: Any = None,
           **matmul_kwargs: Any) -> np.ndarray:
    """y = x @ weightᵀ + bias on the emulated dot-product unit, with an optional quantization
    recipe (see :func:`linear_parts` and ``docs/formats/recipes.md``).

    Args:
        x: activations (..., in_features).
        weight: (out_features, in_features), PyTorch's layout.
        bias: (out_features,) or None; added in the epilogue.
        x_format, w_format: operand formats (records or names; scalar or block formats). None
            means unquantized float32.
        accumulator: :func:`simulator.matmul`'s accumulator (default float32; int32 for two
            integer formats).
        scaling: see the module documentation.
        output_format: the epilogue's output format (float32 default; None = float64).
        rotation: None, ``"hadamard"``, ``"random_hadamard"`` (signs from seed 0; pass
            ``formats.hadamard(K, key=k)`` for others) or a K×K orthogonal matrix R: x and the
            weights are rotated along K (x·R, W·R — QuaRot / SpinQuant), so x·Wᵀ is unchanged
            before quantization.
        calibration: how the scales are chosen instead of each operand's absmax: a method of
            :func:`formats.calibrate` (``"percentile"``, ``"mse"``, ``"sigma"``, ``"absmax"``),
            a dict ``{"method": ..., **options}``, or per operand ``{"x": ..., "w": ...}`` where
            an entry may also be a static :class:`formats.Calibration` (e.g. from calibration
            data). Block formats get calibrated block scales; scalar formats a calibrated
            per-tensor / per-channel scale (an FP8 operand without scaling gets a per-tensor
            one).
        outliers: ``{"method": "int8", "threshold": 6.0}`` — LLM.int8(): the columns of x
            with any |x| ≥ threshold go through a second GEMM in ``format`` (default float16,
            accumulator float32), the rest through the main GEMM (scales computed without
            them); or ``{"method": "sparse", "fraction": 0.01}`` / ``{"method": "sparse",
            "mask": M}`` — SpQR-style dense + sparse weights: the largest-magnitude weights (or
            the mask's) in ``format``, the dense rest quantized to ``w_format``. Options
            ``format`` and ``accumulator`` set the outlier GEMM's operand format and
            accumulator.
        low_rank: an int rank r or ``{"rank": r, "format": None, "iterations": 1}`` —
            LQ-LoRA's W ≈ Q(W − L·R) + L·R: the main GEMM runs on the residual, and x·Rᵀ·Lᵀ
            runs as two GEMMs in ``format`` (a float format; None: exact float64).
        **matmul_kwargs: more :func:`simulator.matmul` options (order, k_chunk, multiplier,
            chunk_accumulator, block_reduce, backend, ...).

    Returns:
        (..., out_features) NumPy array: the sum of the parts (:func:`linear_parts`) plus the
        bias, rounded once to ``output_format``.

    Raises:
        ValueError: shape mismatch (``weight``, ``bias``) or bad options (a recipe's message
            names the recipe and what it allows).
        TypeError: non-real inputs (complex, strings, objects).
    """
    x = as_real_array(x, "x")
    w = as_real_array(weight, "weight")
    bias = _bias(bias, w.shape[0]) if w.ndim == 2 else bias
    parts = linear_parts(x, w, x_format=x_format, w_format=w_format, accumulator=accumulator, scaling=scaling,
                         rotation=rotation, calibration=calibration, outliers=outliers, low_rank=low_rank,
                         **matmul_kwargs)
    y: Any = None
    for p in parts.values():
        y = p if y is None else y + p
    if bias is not None:
        y = y + bias
    return _round_out(y, output_format)


def linear_parts(x: ArrayLike, weight: ArrayLike, *, x_format: Fmt = None, w_format: Fmt = None,
                 accumulator: Any = None, scaling: str = "auto", rotation: Any = None, calibration: Any = None,
                 outliers: Any = None, low_rank: Any = None, **matmul_kwargs: Any) -> dict:
    """The partial outputs of :func:`linear` (float64, before bias and output rounding):
    ``"main"`` (the quantized GEMM, dequantized), ``"outliers"`` (the high-precision outlier
    GEMM, with ``outliers=``), ``"low_rank"`` (x·Rᵀ·Lᵀ, with ``low_rank=``). :func:`linear` is
    their sum plus the bias, rounded once. Arguments as :func:`linear`.

    Raises:
        ValueError, TypeError: as :func:`linear`.
    """
    from .emulate import _recipes as rc

    x = as_real_array(x, "x")
    w = as_real_array(weight, "weight")
    if x.ndim < 1:
        raise ValueError(f"x must have at least 1 dimension (..., in_features), got shape {x.shape}")
    if w.ndim != 2 or x.shape[-1] != w.shape[1]:
        raise ValueError(f"weight must be (out_features, in_features={x.shape[-1]}), got {w.shape}")
    lead = x.shape[:-1]
    x2 = x.reshape(-1, x.shape[-1])
    K = w.shape[1]
    rot = _rotation(rotation, K, "rotation")
    x2, w = _rotate(x2, rot), _rotate(w, rot)
    cx, cw = _calibrations(calibration, ("x", "w"))
    out_spec = _outlier_spec(outliers, OUTLIER_ROLES_LINEAR)
    lr_spec = _low_rank_spec(low_rank, min(w.shape))
    mk = dict(matmul_kwargs, accumulator=accumulator)
    parts = {}
    extra = {}
    x_main, w_main = x2, w
    if out_spec is not None:
        if out_spec["method"] == "int8":
            cols = np.asarray(rc.outlier_columns(x2, out_spec["threshold"]))
            x_main, w_main = x2 * ~cols, w * ~cols
            o = np.zeros((x2.shape[0], w.shape[0]))
            if cols.any():
                o = _outlier_gemm(x2[:, cols], w[:, cols].T, out_spec, matmul_kwargs)
        else:
            w_main, sparse, _ = rc.sparse_outliers(w, fraction=out_spec["fraction"], mask=out_spec["mask"])
            o = _outlier_gemm(x2, sparse.T, out_spec, matmul_kwargs)
        extra["outliers"] = o
    if lr_spec is not None:
        quantizer = _weight_quantizer(w_format, scaling) if lr_spec["iterations"] > 1 else None
        w_main, L, R = rc.low_rank_residual(w_main, lr_spec["rank"], quantizer=quantizer,
                                            factor_format=lr_spec["format"], iterations=lr_spec["iterations"])
        extra["low_rank"] = _low_rank_gemm(x2, L, R, lr_spec["format"], matmul_kwargs)
    acc, sx, sw = _gemm(x_main, w_main.T, x_format=x_format, w_format=w_format, scaling=scaling,
                        matmul_kwargs=mk, calibs=(cx, cw))
    main = np.asarray(acc).astype(np.float64)
    for sc in (sx, sw):
        if sc is not None:
            main = main * sc
    parts["main"] = main
    parts.update(extra)
    return {k: v.reshape(lead + (w.shape[0],)) for k, v in parts.items()}


# ------------------------------------------------------------------------------ recipes
#: ``outliers["method"]`` values a Linear layer takes (LLM.int8() columns, SpQR-style sparse weights).
OUTLIER_ROLES_LINEAR = ("int8", "sparse")


def _rotation(rotation, n: int, name: str):
    """None, a name of :data:`formats.ROTATIONS`, or an n×n orthogonal matrix (float64)."""
    from lowbit import formats

    if rotation is None:
        return None
    if isinstance(rotation, str):
        if rotation not in formats.ROTATIONS:
            raise ValueError(f"{name} must be None, one of {formats.ROTATIONS} or an orthogonal matrix, got "
                             f"{rotation!r}")
        formats.hadamard_factors(n)  # a clear error for a size without a Hadamard matrix
        return rotation
    R = as_real_array(rotation, name)
    if R.shape != (n, n):
        raise ValueError(f"{name} must be an {n}×{n} orthogonal matrix, got shape {R.shape}")
    return R


def _rotate(a, rot, axis: int = -1):
    from lowbit import formats

    if rot is None:
        return a
    if isinstance(rot, str):
        return formats.rotate(a, rot, axis=axis, key=0 if rot == "random_hadamard" else None)
    return formats.rotate(a, rot, axis=axis)


def _rotation_matrix(rot, n: int):
    """The matrix of a rotation spec (to undo it: · Rᵀ)."""
    from lowbit import formats

    if isinstance(rot, str):
        return formats.hadamard(n, key=0 if rot == "random_hadamard" else None)
    return rot


def _calibrations(calibration, roles: tuple) -> tuple:
    """One calibration per operand role: None, a dict of :func:`formats.calibrate` options
    (method included), or a static :class:`formats.Calibration`."""
    from lowbit import formats

    def one(c, where):
        if c is None or isinstance(c, formats.Calibration):
            return c
        if isinstance(c, str):
            c = {"method": c}
        if not isinstance(c, dict) or "method" not in c:
            raise ValueError(f"{where} must be None, a method of formats.calibrate {formats.CALIBRATION_METHODS}, "
                             f"a dict with 'method', or a formats.Calibration, got {c!r}")
        if c["method"] not in formats.CALIBRATION_METHODS:
            raise ValueError(f"{where}: method must be one of {formats.CALIBRATION_METHODS}, got {c['method']!r}")
        return dict(c)

    if isinstance(calibration, dict) and "method" not in calibration:
        unknown = set(calibration) - set(roles)
        if unknown:
            raise ValueError(f"calibration: per-operand keys must be among {roles}, got {sorted(unknown)}")
        return tuple(one(calibration.get(r), f"calibration[{r!r}]") for r in roles)
    c = one(calibration, "calibration")
    if isinstance(c, formats.Calibration):  # a static calibration is the activations' (the first operand)
        return (c,) + (None,) * (len(roles) - 1)
    return (c,) * len(roles)


def _outlier_spec(outliers, methods: tuple):
    if outliers is None:
        return None
    if not isinstance(outliers, dict) or outliers.get("method") not in methods:
        raise ValueError(f"outliers must be None or a dict with 'method' in {methods}, got {outliers!r}")
    allowed = {"method", "format", "accumulator"} | (
        {"threshold"} if outliers["method"] == "int8" else {"fraction", "mask"})
    unknown = set(outliers) - allowed
    if unknown:
        raise ValueError(f"outliers: unknown option(s) {sorted(unknown)} for method {outliers['method']!r}; "
                         f"allowed: {sorted(allowed)}")
    spec = {"format": "float16", "accumulator": None, "threshold": 6.0, "fraction": None, "mask": None,
            **outliers}
    if spec["method"] == "sparse" and (spec["fraction"] is None) == (spec["mask"] is None):
        raise ValueError("outliers with method 'sparse' need exactly one of 'fraction' and 'mask'")
    return spec


def _low_rank_spec(low_rank, max_rank: int):
    if low_rank is None:
        return None
    spec = {"rank": low_rank} if isinstance(low_rank, (int, np.integer)) and not isinstance(low_rank, bool) \
        else low_rank
    if not isinstance(spec, dict) or "rank" not in spec:
        raise ValueError(f"low_rank must be None, an int rank or a dict with 'rank', got {low_rank!r}")
    unknown = set(spec) - {"rank", "format", "iterations"}
    if unknown:
        raise ValueError(f"low_rank: unknown option(s) {sorted(unknown)}; allowed: rank, format, iterations")
    return {"format": None, "iterations": 1, **spec}


def _outlier_gemm(a, b, spec, matmul_kwargs):
    """The high-precision outlier GEMM a @ b (float64 result of the accumulator values)."""
    fmt = spec["format"]
    kw = {k: v for k, v in matmul_kwargs.items() if k == "backend"}
    return np.asarray(matmul(a, b, a_format=fmt, b_format=fmt, accumulator=spec["accumulator"], **kw),
                      dtype=np.float64)


def _low_rank_gemm(x2, L, R, fmt, matmul_kwargs):
    """x·Rᵀ·Lᵀ: exact float64 for ``fmt`` None, else two GEMMs with operands in ``fmt``
    (per-tensor scaled), the intermediate rounded to ``fmt``."""
    if fmt is None:
        return (x2 @ R.T) @ L.T
    kw = {k: v for k, v in matmul_kwargs.items() if k == "backend"}
    t = linear(x2, R, x_format=fmt, w_format=fmt, scaling="tensor", output_format=fmt, **kw)
    return linear(t, L, x_format=fmt, w_format=fmt, scaling="tensor", output_format=None, **kw)


def _weight_quantizer(w_format, scaling):
    """v (N, K) ↦ the weight operand as the main GEMM quantizes it, dequantized (absmax
    scales): LQ-LoRA's Q for iterations > 1."""
    from lowbit import formats

    wf = _fmt(w_format, "w_format")
    mode = _scale_mode(wf, scaling, "w")

    def q(v):
        vt = np.asarray(v, dtype=np.float64).T
        if _is_block_format(wf):
            return np.asarray(formats.quantize(vt, wf, axis=0), dtype=np.float64).T
        vs, s = _prep(vt, wf, mode, -2)
        out = np.asarray(formats.quantize(vs, wf), dtype=np.float64)
        return (out if s is None else out * s).T

    return q


def _pair(v, name):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        v = (int(v), int(v))
    v = tuple(v)
    if len(v) != 2 or any(isinstance(t, bool) or not isinstance(t, (int, np.integer)) for t in v):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return int(v[0]), int(v[1])


def im2col(x: ArrayLike, kernel_size: Pair, *, stride: Pair = 1, padding: Pair = 0,
           dilation: Pair = 1) -> tuple[np.ndarray, tuple[int, int]]:
    """Patches of an NCHW tensor as rows: (N, H_out·W_out, C·kh·kw), columns ordered (C, kh, kw)
    as ``torch.nn.functional.unfold`` (transposed), plus (H_out, W_out). Padding is zeros.

    Raises:
        ValueError: bad sizes.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW (4-D), got shape {x.shape}")
    kh, kw = _pair(kernel_size, "kernel_size")
    sh, sw = _pair(stride, "stride")
    ph, pw = _pair(padding, "padding")
    dh, dw = _pair(dilation, "dilation")
    if min(kh, kw, sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ValueError("kernel_size, stride, dilation must be >= 1 and padding >= 0")
    N, C, H, W = x.shape
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"the kernel does not fit: output size {Ho}x{Wo}")
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((N, C, kh, kw, Ho, Wo), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            hi, wj = i * dh, j * dw
            cols[:, :, i, j] = xp[:, :, hi:hi + sh * (Ho - 1) + 1:sh, wj:wj + sw * (Wo - 1) + 1:sw]
    return cols.reshape(N, C * kh * kw, Ho * Wo).transpose(0, 2, 1), (Ho, Wo)


def conv2d(x: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None, *, stride: Pair = 1, padding: Pair = 0,
           dilation: Pair = 1, x_format: Fmt = None, w_format: Fmt = None, accumulator: Any = None,
           scaling: str = "auto", output_format: Fmt = "float32", **matmul_kwargs: Any) -> np.ndarray:
    """2-D convolution (NCHW, cross-correlation as PyTorch) lowered to a GEMM by im2col.

    The reduction axis K = C·kh·kw in (C, kh, kw) order; per-tensor activation scales and
    per-output-channel weight scales as :func:`linear`.

    Args:
        x: (N, C, H, W). weight: (O, C, kh, kw). bias: (O,) or None.
        stride, padding, dilation: ints or pairs.
        Others: as :func:`linear`.

    Returns:
        (N, O, H_out, W_out) NumPy array.

    Raises:
        ValueError: bad shapes (``x``, ``weight``, ``bias``) or options. TypeError: non-real
            inputs.
    """
    x = as_real_array(x, "x")
    w = as_real_array(weight, "weight")
    if x.ndim != 4:
        raise ValueError(f"x must be NCHW (4-D), got shape {x.shape}")
    if w.ndim != 4 or w.shape[1] != x.shape[1]:
        raise ValueError(f"weight must be (O, C={x.shape[1]}, kh, kw), got {w.shape}")
    O, C, kh, kw = w.shape
    bias = _bias(bias, O)
    cols, (Ho, Wo) = im2col(x, (kh, kw), stride=stride, padding=padding, dilation=dilation)
    wt = w.reshape(O, C * kh * kw).T
    acc, sx, sw = _gemm(cols, wt, x_format=x_format, w_format=w_format, scaling=scaling,
                        matmul_kwargs=dict(matmul_kwargs, accumulator=accumulator))
    y = _epilogue(acc, (sx, sw), bias, output_format)  # (N, Ho·Wo, O)
    return y.transpose(0, 2, 1).reshape(x.shape[0], O, Ho, Wo)


# ------------------------------------------------------------------------------ attention
class AttentionResult(NamedTuple):
    """Emulated attention: output (..., Lq, dv), scores (..., Lq, Lk) after scaling and mask,
    probabilities (..., Lq, Lk) as fed to the PV GEMM."""

    output: np.ndarray
    scores: np.ndarray
    probs: np.ndarray


def _mask(scores, causal):
    if not causal:
        return scores
    Lq, Lk = scores.shape[-2:]
    keep = np.tril(np.ones((Lq, Lk), dtype=bool), k=Lk - Lq)
    return np.where(keep, scores, -np.inf)


def attention(q: Any, k: Any, v: Any, *, q_format: Fmt = None, k_format: Fmt = None,
              p_format: Fmt = None, v_format: Fmt = None, qk_accumulator: Any = None, pv_accumulator: Any = None,
              scale: float | None = None, causal: bool = False, scaling: str = "auto", output_format: Fmt = "float32",
              rotation: Any = None, calibration: Any = None, outliers: Any = None,
              **matmul_kwargs: Any) -> AttentionResult:
    """softmax(q kᵀ · scale) v with per-operand formats (the SageAttention / FP8-attention setup).

    Steps: S = matmul(q, kᵀ) with ``q_format``/``k_format`` into ``qk_accumulator``, dequantized
    and multiplied by ``scale`` (default 1/√d) in float64, causal mask (−inf above the diagonal,
    aligned to the last key) if asked; P = softmax(S) in float64, quantized to ``p_format``
    (probabilities in [0, 1]: no scale unless ``scaling`` says so); O = matmul(P, v) with
    ``p_format``/``v_format`` into ``pv_accumulator``, dequantized and rounded to
    ``output_format``.

    Args:
        q: (..., Lq, d). k: (..., Lk, d). v: (..., Lk, dv). Leading dimensions (batch, heads)
            broadcast.
        q_format, k_format, p_format, v_format: formats of the four GEMM operands (None:
            unquantized float32).
        qk_accumulator, pv_accumulator: accumulators of the two GEMMs (default float32).
        scale: softmax scale (default 1/√d). causal: apply a causal mask.
        scaling, output_format, **matmul_kwargs: as :func:`linear` (per-tensor scales for
            integer q/k/v; "channel" means per query row, per key and per value column).
        rotation: QuaRot's rotations of the head dimension: ``"hadamard"`` /
            ``"random_hadamard"`` rotate q and k by one Hadamard matrix of order d (QKᵀ is
            unchanged) and v by one of order dv, and the output is rotated back by its
            transpose (QuaRot folds that into W_o); a d×d matrix does the same with it (d =
            dv), and ``{"qk": R1, "v": R2}`` gives the two separately.
        calibration: as :func:`linear`, per operand ``{"q", "k", "p", "v"}``.
        outliers: ``{"method": "sparse", "fraction": f}`` — KVQuant's dense-and-sparse cache:
            the largest-magnitude fraction of K and of V kept in ``format`` (float16) in a
            second GEMM each, the dense rest quantized to ``k_format`` / ``v_format``.

    Returns:
        :class:`AttentionResult`.

    Raises:
        ValueError: shapes that do not fit, a non-finite ``scale``, or ``causal`` with more
            queries than keys (rows with no key to attend to), bad recipe options.
            TypeError: non-real inputs, a ``scale`` that is not a number, a ``causal`` that is
            not a bool.
    """
    from lowbit import formats

    from .emulate import _recipes as rc

    q, k, v, sc = _attention_inputs(q, k, v, scale, causal)
    if isinstance(rotation, dict):
        unknown = set(rotation) - {"qk", "v"}
        if unknown:
            raise ValueError(f"rotation: keys must be among ('qk', 'v'), got {sorted(unknown)}")
        rq, rv = _rotation(rotation.get("qk"), q.shape[-1], "rotation['qk']"), \
            _rotation(rotation.get("v"), v.shape[-1], "rotation['v']")
    else:
        if rotation is not None and not isinstance(rotation, str) and q.shape[-1] != v.shape[-1]:
            raise ValueError("rotation: one matrix needs d = dv; pass {'qk': R1, 'v': R2}")
        rq, rv = _rotation(rotation, q.shape[-1], "rotation"), _rotation(rotation, v.shape[-1], "rotation")
    q, k, v = _rotate(q, rq), _rotate(k, rq), _rotate(v, rv)
    cq, ck, cp, cv = _calibrations(calibration, ("q", "k", "p", "v"))
    out_spec = _outlier_spec(outliers, ("sparse",))
    k_out = v_out = None
    if out_spec is not None:
        k, k_out, _ = rc.sparse_outliers(k, fraction=out_spec["fraction"], mask=out_spec["mask"])
        v, v_out, _ = rc.sparse_outliers(v, fraction=out_spec["fraction"], mask=out_spec["mask"])
    kt = np.swapaxes(k, -1, -2)
    qf, kf = _fmt(q_format, "q_format"), _fmt(k_format, "k_format")
    qs, sq, ks, sk = _prep_pair(q, qf, _scale_mode(qf, scaling, "x"), kt, kf, _scale_mode(kf, scaling, "x"),
                                qk_accumulator, matmul_kwargs, roles=("q", "k"), calibs=(cq, ck))
    S = matmul(qs, ks, a_format=qf, b_format=kf,
               accumulator=qk_accumulator, **matmul_kwargs)
    S = np.asarray(S).astype(np.float64)
    for s in (sq, sk):
        if s is not None:
            S = S * s
    if k_out is not None:
        S = S + _outlier_gemm(q, np.swapaxes(k_out, -1, -2), out_spec, matmul_kwargs)
    S = _mask(S * sc, causal)
    P = softmax(S, -1)
    pf, vf = _fmt(p_format, "p_format"), _fmt(v_format, "v_format")
    ps, sp, vs, sv = _prep_pair(P, pf, _scale_mode(pf, "none" if scaling == "auto" else scaling, "x"),
                                v, vf, _scale_mode(vf, scaling, "x"), pv_accumulator, matmul_kwargs,
                                roles=("p", "v"), calibs=(cp, cv))
    if isinstance(ps, formats.QArray):
        probs = np.asarray(formats.decode(ps, np.float64))
    else:
        if sp is None and not _is_block_format(pf):
            ps = formats.quantize(ps, pf)
        probs = ps if sp is None else ps * sp
    O = matmul(ps, vs, a_format=pf, b_format=vf,
               accumulator=pv_accumulator, **matmul_kwargs)
    O = np.asarray(O).astype(np.float64)
    for s in (sp, sv):
        if s is not None:
            O = O * s
    if v_out is not None:
        O = O + _outlier_gemm(probs, v_out, out_spec, matmul_kwargs)
    if rv is not None:  # undo the V/O rotation (QuaRot folds it into W_o)
        O = O @ np.asarray(_rotation_matrix(rv, v.shape[-1]), dtype=np.float64).T
    return AttentionResult(_round_out(O, output_format), S, probs)


def _attention_inputs(q, k, v, scale, causal):
    """(q, k, v as float64, the softmax scale), checked."""
    q, k, v = (as_real_array(t, n) for t, n in ((q, "q"), (k, "k"), (v, "v")))
    for t, n in ((q, "q"), (k, "k"), (v, "v")):
        if t.ndim < 2:
            raise ValueError(f"{n} must have at least 2 dimensions (..., L, d), got shape {t.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(f"shapes do not fit attention: q {q.shape}, k {k.shape}, v {v.shape}")
    if not isinstance(causal, (bool, np.bool_)):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if causal and q.shape[-2] > k.shape[-2]:
        raise ValueError(f"causal=True aligns the mask to the last key: it needs Lq <= Lk, got Lq={q.shape[-2]} "
                         f"and Lk={k.shape[-2]}")
    if scale is None:
        return q, k, v, 1.0 / math.sqrt(q.shape[-1])
    if isinstance(scale, (bool, np.bool_)) or not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"scale must be a real number or None, got {type(scale).__name__}")
    if not math.isfinite(float(scale)):
        raise ValueError(f"scale must be finite, got {scale!r}")
    return q, k, v, float(scale)


def attention_reference(q: ArrayLike, k: ArrayLike, v: ArrayLike, *, scale: float | None = None,
                        causal: bool = False) -> AttentionResult:
    """Float64 attention (the reference of :func:`attention`).

    Raises:
        ValueError, TypeError: as :func:`attention`.
    """
    q, k, v, sc = _attention_inputs(q, k, v, scale, causal)
    S = _mask(np.matmul(q, np.swapaxes(k, -1, -2)) * sc, causal)
    P = softmax(S, -1)
    return AttentionResult(np.matmul(P, v), S, P)


# ------------------------------------------------------------------------------ layer objects
@dataclasses.dataclass(frozen=True, eq=False)
class Linear:
    """A linear layer with fixed weights and an emulated datapath.

    ``Linear(weight, bias, x_format=..., w_format=..., accumulator=..., ...)(x)`` runs
    :func:`linear`; ``reference(x)`` is x @ weightᵀ + bias in float64; ``compare(x)`` the
    :class:`Metrics` of the emulation against it. ``options`` holds further
    :func:`simulator.matmul` keywords.
    """

    weight: np.ndarray
    bias: np.ndarray | None = None
    x_format: object = None
    w_format: object = None
    accumulator: object = None
    scaling: str = "auto"
    output_format: object = "float32"
    options: dict = dataclasses.field(default_factory=dict)
    rotation: object = None
    calibration: object = None
    outliers: object = None
    low_rank: object = None

    def _recipe(self) -> dict:
        return dict(rotation=self.rotation, calibration=self.calibration, outliers=self.outliers,
                    low_rank=self.low_rank)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return linear(x, self.weight, self.bias, x_format=self.x_format, w_format=self.w_format,
                      accumulator=self.accumulator, scaling=self.scaling, output_format=self.output_format,
                      **self._recipe(), **self.options)

    def parts(self, x: ArrayLike) -> dict:
        """The partial outputs (:func:`linear_parts`): ``main``, and ``outliers`` /
        ``low_rank`` with those recipes; ``self(x)`` is their sum plus the bias, rounded."""
        return linear_parts(x, self.weight, x_format=self.x_format, w_format=self.w_format,
                            accumulator=self.accumulator, scaling=self.scaling, **self._recipe(), **self.options)

    def reference(self, x: ArrayLike) -> np.ndarray:
        w = as_real_array(self.weight, "weight")
        y = as_real_array(x, "x") @ w.T
        return y if self.bias is None else y + _bias(self.bias, w.shape[0])

    def compare(self, x: ArrayLike) -> Metrics:
        return compare(self(x), self.reference(x))


@dataclasses.dataclass(frozen=True, eq=False)
class Conv2d:
    """A 2-D convolution with fixed weights (O, C, kh, kw) and an emulated datapath; see
    :func:`conv2d` and :class:`Linear`."""

    weight: np.ndarray
    bias: np.ndarray | None = None
    stride: Pair = 1
    padding: Pair = 0
    dilation: Pair = 1
    x_format: object = None
    w_format: object = None
    accumulator: object = None
    scaling: str = "auto"
    output_format: object = "float32"
    options: dict = dataclasses.field(default_factory=dict)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding,
                      dilation=self.dilation, x_format=self.x_format, w_format=self.w_format,
                      accumulator=self.accumulator, scaling=self.scaling, output_format=self.output_format,
                      **self.options)

    def reference(self, x: ArrayLike) -> np.ndarray:
        w = as_real_array(self.weight, "weight")
        cols, (Ho, Wo) = im2col(as_real_array(x, "x"), w.shape[2:], stride=self.stride,
                                padding=self.padding, dilation=self.dilation)
        y = cols @ w.reshape(w.shape[0], -1).T
        if self.bias is not None:
            y = y + _bias(self.bias, w.shape[0])
        return y.transpose(0, 2, 1).reshape(cols.shape[0], w.shape[0], Ho, Wo)

    def compare(self, x: ArrayLike) -> Metrics:
        return compare(self(x), self.reference(x))


@dataclasses.dataclass(frozen=True, eq=False)
class Attention:
    """Scaled dot-product attention with per-operand formats; see :func:`attention`.

    ``compare(q, k, v)`` returns the :class:`Metrics` of the output against float64 attention,
    with ``kl_divergence`` = mean KL(softmax(reference scores) ‖ softmax(emulated scores)) over
    the query rows and ``flip_rate`` = the fraction of query rows whose most-attended key (the
    arg-max of the scores) changes. ``rotation``, ``calibration`` and ``outliers`` are the
    recipes of :func:`attention`.
    """

    q_format: object = None
    k_format: object = None
    p_format: object = None
    v_format: object = None
    qk_accumulator: object = None
    pv_accumulator: object = None
    scale: float | None = None
    causal: bool = False
    scaling: str = "auto"
    output_format: object = "float32"
    options: dict = dataclasses.field(default_factory=dict)
    rotation: object = None
    calibration: object = None
    outliers: object = None

    def __call__(self, q: ArrayLike, k: ArrayLike, v: ArrayLike) -> AttentionResult:
        return attention(q, k, v, q_format=self.q_format, k_format=self.k_format, p_format=self.p_format,
                         v_format=self.v_format, qk_accumulator=self.qk_accumulator,
                         pv_accumulator=self.pv_accumulator, scale=self.scale, causal=self.causal,
                         scaling=self.scaling, output_format=self.output_format, rotation=self.rotation,
                         calibration=self.calibration, outliers=self.outliers, **self.options)

    def reference(self, q: ArrayLike, k: ArrayLike, v: ArrayLike) -> AttentionResult:
        return attention_reference(q, k, v, scale=self.scale, causal=self.causal)

    def compare(self, q: ArrayLike, k: ArrayLike, v: ArrayLike) -> Metrics:
        emu = self(q, k, v)
        ref = self.reference(q, k, v)
        m = compare(emu.output, ref.output)
        from .emulate._compare import kl_divergence

        kl = float(np.mean(kl_divergence(ref.probs, softmax(emu.scores, -1), -1)))
        return dataclasses.replace(m, kl_divergence=kl, flip_rate=flip_rate(emu.scores, ref.scores, -1))
