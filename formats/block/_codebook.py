"""Codebook formats: each code indexes a level of a fixed table, times a per-block (or
per-tensor) scale — NF4 (QLoRA), ternary BitNet b1.58, binary sign·mean, and user codebooks."""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import ClassVar

import numpy as np

from ..core._backend import backend_of, bitcast, code_dtype, divide, namespace
from ..core._codec import decode as _decode
from ..core._codec import encode as _encode
from ..core._codec import quantize as _quantize
from ..core._dispatch import register_codec
from ..core._options import make_random_bits
from ..core._qarray import QArray
from ..core._records import FloatFormat, Format
from ..core._registry import register
from ._layout import (
    _F,
    FLOAT32,
    ScaledCodec,
    bits_like,
    check_blocked,
    from_blocks,
    jax_float,
    ldexp_bits,
    normalize_axis,
    source_meta,
    split_exponent,
    to_blocks,
    work_dtype,
)

__all__ = ["CodebookFormat", "CODEBOOK_SCALE_RULES", "TIES", "NF4_LEVELS"]

#: ``scale_rule`` of :class:`CodebookFormat`: ``absmax`` (max |x| of the block: NF4),
#: ``absmean`` (mean |x|: BitNet b1.58 ternary, XNOR-Net binary), ``none`` (levels are values).
CODEBOOK_SCALE_RULES = ("absmax", "absmean", "none")
#: Tie rules of nearest-level encoding: ``even`` (the even code), ``toward_zero`` (the level of
#: smaller magnitude), ``away`` (larger magnitude); equal magnitudes fall back to ``even``.
TIES = ("even", "toward_zero", "away")

# The 16 NormalFloat levels: QLoRA (Dettmers et al., arXiv 2305.14314, §3 and Appendix E);
# values as in bitsandbytes functional.get_4bit_type("nf4") (float32 numbers).
NF4_LEVELS = (
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
)


@dataclasses.dataclass(frozen=True)
class CodebookFormat(Format):
    """Codes index ``levels`` (ascending); value = scale · levels[code].

    Args:
        levels: the table, strictly ascending finite numbers (2 … 65536 of them); code i is
            ``levels[i]``.
        block_size: elements per scale along the blocking axis (QLoRA NF4: 64), or None for one
            scale for the whole tensor (BitNet).
        scale_rule: one of :data:`CODEBOOK_SCALE_RULES`, computed over the finite values of the
            block (absmean over the block's real, finite elements: padding is not counted). An
            all-zero block gets scale 1.
        scale: format the scales are stored in (float32 by default; rounded to nearest even).
        tie: tie rule of nearest-level encoding, one of :data:`TIES` (``rounding="nearest_even"``
            uses it; ``nearest_away`` always takes the larger magnitude).
        name: informational.

    Rounding option: ``nearest_even`` — the nearest level, ties by ``tie``; ``nearest_away`` —
    ties to the larger magnitude; ``up``/``down`` — the nearest level ≥ / ≤ x/scale;
    ``toward_zero`` — ``down`` for x ≥ 0, ``up`` below; ``odd`` — exact levels stay, others take
    the odd code of the two neighbours; ``stochastic`` — the upper neighbour with probability
    (t − lo)/(hi − lo). Values beyond the ends saturate; NaN encodes to the level of smallest
    magnitude. Distances are computed in the working float precision (float32 for
    float16/bfloat16/float32 inputs, float64 for float64), with the levels rounded to it.

    QArray layout: with ``block_size`` the block layout of :class:`BlockFormat` (codes
    ``(*other_dims, n_blocks, block_size)``, scale codes ``(*other_dims, n_blocks)``); with
    None the codes keep the input's shape and the scale codes have shape ``()``. ``scales`` is
    None for ``scale_rule="none"``.

    Raises:
        ValueError: naming the field.
    """

    levels: tuple
    block_size: int | None = None
    scale_rule: str = "absmax"
    scale: FloatFormat = FLOAT32
    tie: str = "even"
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "codebook"

    def __post_init__(self):
        try:
            lv = tuple(float(v) for v in self.levels)
        except (TypeError, ValueError):
            raise ValueError(f"levels must be a sequence of numbers, got {self.levels!r}") from None
        if not 2 <= len(lv) <= 1 << 16:
            raise ValueError(f"levels must hold 2 to 65536 values, got {len(lv)}")
        if not all(math.isfinite(v) for v in lv):
            raise ValueError("levels must be finite")
        if any(b <= a for a, b in itertools.pairwise(lv)):
            raise ValueError("levels must be strictly ascending")
        object.__setattr__(self, "levels", lv)
        if self.block_size is not None and (isinstance(self.block_size, bool) or not isinstance(self.block_size, int)
                                            or self.block_size < 1):
            raise ValueError(f"block_size must be a positive int or None, got {self.block_size!r}")
        if self.scale_rule not in CODEBOOK_SCALE_RULES:
            raise ValueError(f"scale_rule must be one of {CODEBOOK_SCALE_RULES}, got {self.scale_rule!r}")
        if not isinstance(self.scale, FloatFormat) or self.scale.bits > 32:
            raise ValueError(f"scale must be a FloatFormat of at most 32 bits, got {self.scale!r}")
        if self.tie not in TIES:
            raise ValueError(f"tie must be one of {TIES}, got {self.tie!r}")

    @property
    def bits(self) -> int:
        """Code width: ceil(log2(number of levels))."""
        return max(1, (len(self.levels) - 1).bit_length())

    @property
    def unused_codes(self):
        """Codes beyond the levels, len(levels) … 2^bits − 1 (ternary: code 3)."""
        from ..core._records import CodeSet

        return CodeSet([range(len(self.levels), 1 << self.bits)])

    @property
    def code_bits(self) -> float:
        """Stored bits per code as :meth:`QArray.pack` lays codes out: ``bits``, except for
        three levels, packed five trits per byte (3^5 = 243 ≤ 256): 8/5 = 1.6."""
        return 1.6 if len(self.levels) == 3 else float(self.bits)

    @property
    def bits_per_element(self) -> float:
        """Code bits (:attr:`code_bits`: 1.6 for ternary) plus scale bits / block_size (a
        per-tensor scale is amortised to 0)."""
        if self.block_size is None or self.scale_rule == "none":
            return self.code_bits
        return self.code_bits + self.scale.bits / self.block_size

    @property
    def max(self) -> float:
        """Largest level magnitude (scale 1)."""
        return max(abs(self.levels[0]), abs(self.levels[-1]))

    has_inf: ClassVar[bool] = False
    has_nan: ClassVar[bool] = False

    def _block_scales(self, q, include_tensor_scale):
        if q.scales is None:
            raise TypeError(f"{self} has no scales (scale_rule='none')")
        backend = backend_of(q.codes)
        wd = jax_float(source_meta(q.meta)) if backend == "jax" else source_meta(q.meta)
        return _decode(QArray(codes=q.scales, format=self.scale, shape=q.scales.shape), dtype=wd)


def _view(xp, x, fmt, axis):
    if fmt.block_size is None:
        return x.reshape(1, -1) if x.size else x.reshape(1, 0)
    return to_blocks(xp, x, axis, fmt.block_size)


class _CodebookCodec(ScaledCodec):
    label = "codebook"

    def _extra(self, fmt, extra):
        """Static scales (``scale=``), or None."""
        s = extra.pop("scale", None)
        if "zero_point" in extra:
            raise ValueError(f"zero_point= does not apply to codebook format {fmt}")
        super()._extra(fmt, extra)
        if s is not None and fmt.scale_rule == "none":
            raise ValueError(f"scale= needs a format with scales; {fmt} has scale_rule='none'")
        return s

    def encode_impl(self, x, fmt, opts, key, backend, extra):
        return _encode_cb(x, fmt, opts, key, backend, extra)

    def decode(self, q, dtype, backend):
        return _decode_cb(q, dtype, backend)

    def validate(self, q):
        """QArray layout of a codebook format (see :class:`CodebookFormat`)."""
        from ..core._qarray import check_codes, check_shape_of

        fmt = q.format
        has_scales = fmt.scale_rule != "none"
        if fmt.block_size is not None:
            check_blocked(q, fmt.block_size, fmt.scale.bits if has_scales else None)
        else:
            check_shape_of("codes", q.codes, q.shape, fmt)
            if has_scales:
                if q.scales is None:
                    raise ValueError(f"scales is missing (None): {fmt} stores one scale per tensor")
                sc = check_codes("scales", q.scales, fmt.scale.bits, fmt.scale)
                check_shape_of("scales", sc, (), fmt)
                object.__setattr__(q, "scales", sc)
        if not has_scales and q.scales is not None:
            raise ValueError(f"scales must be None for {fmt} (scale_rule='none')")
        if q.tensor_scale is not None:
            raise ValueError(f"tensor_scale must be None for {fmt}")

    def values(self, fmt):
        """The levels (scale 1), indexed by code; NaN at the unused codes beyond them."""
        v = np.full(1 << fmt.bits, np.nan)
        v[: len(fmt.levels)] = fmt.levels
        return v


def _encode_cb(x, fmt: CodebookFormat, opts, key, backend: str, static=None) -> QArray:
    if opts.overflow == "error":
        raise ValueError("overflow='error' is not supported by codebook formats (they saturate)")
    xp = namespace(backend)
    shape = tuple(x.shape)
    src = work_dtype(x)
    wd = src if backend == "numpy" else jax_float(src)
    fdt = xp.dtype(wd)
    xw = x.astype(fdt)
    if fmt.block_size is None:
        axis = None
        ax = 0
    else:
        if xw.ndim == 0:
            xw = xw.reshape(1)
            ax = 0
        else:
            ax = normalize_axis(opts.axis, xw.ndim)
        axis = ax
    xb = _view(xp, xw, fmt, ax)
    key = bits_like(key, xw.shape, lambda k: _view(xp, k, fmt, ax))
    n = xb.shape[-1]
    # JAX: XLA's CPU backend flushes float subnormals in arithmetic. For the absmax rule every
    # block is first scaled by an exact power of two 2^p (integer arithmetic) that brings its
    # amax into [1, 2); the quotients x/s are unchanged and the arithmetic sees normal numbers.
    # (Elements below amax·2^-126 still flush, to a quotient of 0 instead of a smaller one.)
    W = 64 if wd == "float64" else 32
    MI, BI, U, I, _ = _F[W]
    p = None
    if static is not None:
        from ..core._static import static_array

        lay = xb.shape[:-1] if fmt.block_size is not None else ()
        static = static_array(static, "scale", lay, backend, wd, layout=f"the scales of {fmt}")
        static = static.reshape(xb.shape[:-1])
    if xp is not np and fmt.scale_rule == "absmax" and n and static is None:
        U_ = xp.dtype(U)
        ABS = U_.type((1 << (W - 1)) - 1)
        INF = U_.type(((1 << (W - 1 - MI)) - 1) << MI)
        a = bitcast(xb, U) & ABS
        amax = xp.max(xp.where(a < INF, a, U_.type(0)), axis=-1)
        e, _ = split_exponent(xp, xp.where(amax == 0, U_.type(1 << MI), amax), W)
        p = -e
        xb = bitcast(ldexp_bits(xp, bitcast(xb, U), p[..., None], W), wd)
    finite = xp.isfinite(xb)
    af = xp.where(finite, xp.abs(xb), fdt.type(0))
    scodes = None
    if fmt.scale_rule == "none":
        s = None
        t = xb
    else:
        if static is not None:
            s = static
        elif n == 0:
            s = xp.ones(xb.shape[:-1], fdt)
        elif fmt.scale_rule == "absmax":
            s = xp.max(af, axis=-1)
        else:
            # real (unpadded) elements per block: padding sits at the end of the last block
            L = xw.size if fmt.block_size is None else xw.shape[ax]
            cnt = np.full(xb.shape[-2], n, dtype=np.int64)
            if fmt.block_size is not None and xb.shape[-2]:
                cnt[-1] = L - (xb.shape[-2] - 1) * n
            real = xp.asarray(np.arange(n)[None, :] < cnt[:, None])
            nfin = xp.sum(finite & real, axis=-1)
            s = divide(xp.sum(af, axis=-1), xp.maximum(nfin, 1).astype(fdt))
        if p is not None:  # back to the true amax (exact: it is one of the inputs)
            s = bitcast(ldexp_bits(xp, bitcast(s, U), -p, W), wd)
        pos = _positive(xp, s, U, W)  # (bit tests: XLA would flush a subnormal s to 0)
        s = xp.where(pos, s, fdt.type(1))
        flat = s.reshape(-1)
        sv = _quantize(flat, fmt.scale, rounding="nearest_even", overflow="saturate")
        sv = xp.where(_positive(xp, sv, U, W), sv, fdt.type(fmt.scale.smallest_positive))
        scodes = _encode(sv, fmt.scale).codes.reshape(s.shape)
        s = sv.reshape(s.shape).astype(fdt)
        if p is not None:
            s = bitcast(ldexp_bits(xp, bitcast(s, U), p, W), wd)
        t = divide(xb, s[..., None])
    codes = _nearest(xp, t, fmt, opts, key, backend, fdt)
    if fmt.block_size is None:
        codes = codes.reshape(shape)
        if scodes is not None:
            scodes = scodes.reshape(())
    return QArray(codes=codes, format=fmt, shape=shape, scales=scodes, axis=axis,
                  meta=(("source", src),))


def _positive(xp, v, U, W):
    """v > 0 on the bit patterns (subnormals count as positive on every backend)."""
    b = bitcast(v, U)
    return ((b >> (W - 1)) == 0) & (b != 0) & ~xp.isnan(v)


def _nearest(xp, t, fmt, opts, key, backend, fdt):
    lv = np.asarray(fmt.levels, dtype=fdt)
    nl = lv.size
    lvx = xp.asarray(lv)
    nan = xp.isnan(t)
    tt = xp.where(nan, fdt.type(0), t)
    i = xp.searchsorted(lvx, tt, side="right").astype(xp.int32) - 1
    i = xp.clip(i, 0, nl - 2)
    lo = lvx[i]
    hi = lvx[i + 1]
    i_hi = i + 1
    below = tt <= lo  # at or below the lower neighbour: only possible at the bottom end
    above = tt >= hi
    rnd = opts.rounding
    if rnd == "stochastic":
        R = opts.random_bits
        r = make_random_bits(key, tt.shape, backend, R)
        f = divide(tt - lo, hi - lo)
        up = f * fdt.type(2.0 ** R) > r.astype(fdt)
    else:
        if key is not None:
            raise ValueError("key is only used with rounding='stochastic'")
        if rnd in ("nearest_even", "nearest_away"):
            d_lo = tt - lo
            d_hi = hi - tt
            tie_rule = fmt.tie if rnd == "nearest_even" else "away"
            even_hi = (i_hi % 2) == 0
            if tie_rule == "even":
                tie_up = even_hi
            else:
                mag_lo, mag_hi = xp.abs(lo), xp.abs(hi)
                pref = mag_hi < mag_lo if tie_rule == "toward_zero" else mag_hi > mag_lo
                tie_up = xp.where(mag_lo == mag_hi, even_hi, pref)
            up = (d_hi < d_lo) | ((d_hi == d_lo) & tie_up)
        elif rnd == "up":
            up = tt > lo
        elif rnd == "down":
            up = tt >= hi
        elif rnd == "toward_zero":
            up = xp.where(tt >= 0, tt >= hi, tt > lo)
        else:  # odd
            up = xp.where(tt == lo, False, xp.where(tt == hi, True, (i_hi % 2) == 1))
    up = xp.where(below, False, xp.where(above, True, up))
    idx = xp.where(up, i_hi, i)
    zero_idx = int(np.argmin(np.abs(np.asarray(fmt.levels))))
    idx = xp.where(nan, zero_idx, idx)
    return idx.astype(code_dtype(fmt.bits))


def _decode_cb(q: QArray, dtype, backend: str):
    fmt = q.format
    xp = namespace(backend)
    src = source_meta(q.meta)
    out_dt = np.dtype(dtype).name if dtype is not None else (jax_float(src) if backend == "jax" else src)
    wd = "float64" if out_dt == "float64" else "float32"
    if backend == "jax":
        wd = jax_float(wd)
    fdt = xp.dtype(wd)
    # unused codes (beyond the levels) decode to NaN: the table has 2^bits entries
    lv = xp.asarray(np.asarray(_CodebookCodec().values(fmt), dtype=fdt))
    codes = q.codes
    v = lv[codes.astype(xp.int32)]
    if q.scales is not None:
        s = _decode(QArray(codes=q.scales, format=fmt.scale, shape=q.scales.shape), dtype=wd)
        if fmt.block_size is None:
            v = v * s
        else:
            v = v * s[..., None]
    shape = q.shape
    if fmt.block_size is not None:
        v = from_blocks(xp, v, shape if shape else (1,), q.axis if q.axis is not None else 0).reshape(shape)
    return v.astype(xp.dtype(out_dt))


def _codebook_formats():
    # QLoRA NF4: blocks of 64, absmax scale stored as float32 (bitsandbytes quantize_4bit default).
    yield CodebookFormat(NF4_LEVELS, 64, "absmax", name="nf4")
    # BitNet b1.58 (Ma et al., arXiv 2402.17764, eq. 1-3): W/(mean|W|) rounded to {-1, 0, 1}
    # per tensor; torch.round sends ±0.5 to 0, hence ties toward zero.
    yield CodebookFormat((-1.0, 0.0, 1.0), None, "absmean", tie="toward_zero", name="ternary_absmean")
    # Binary sign·mean (XNOR-Net, Rastegari et al., ECCV 2016, §3.1: alpha = mean|W|, B = sign W);
    # a tie at 0 takes the even code, -1 (BitNet's Sign(0) = -1, Wang et al., arXiv 2310.11453).
    yield CodebookFormat((-1.0, 1.0), None, "absmean", name="binary_absmean")


register(_codebook_formats)
register_codec(CodebookFormat, _CodebookCodec())
