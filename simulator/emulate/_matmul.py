"""``simulator.matmul``: the bit-exact result of a hardware dot-product unit.

The model: an output element is the reduction of J *terms* along K.

* scalar operand formats: term k = a_k × b_k, the product of the two quantized values — exact
  (``multiplier="exact"``), or the approximate product of L-Mul / LNS;
* block formats (MX, NVFP4, ...) with ``block_reduce="exact"`` (default, OCP MX v1.0 §6.2
  ``Dot``): term j = X_A,j · X_B,j · Σ_{i in block j} P_i Q_i, the block's element products
  summed exactly and multiplied by both block scales; with ``block_reduce="accumulator"``
  every scaled element product is a term of its own;
* the terms are added into an accumulator (``Accumulator``: a format, rounding and overflow)
  in an order — ``sequential`` (((0 + t0) + t1) + ...), ``pairwise`` (balanced tree) or
  ``systolic`` — optionally in chunks of ``k_chunk`` reduced in ``chunk_accumulator`` and
  promoted into the accumulator (two-level accumulation, DeepGEMM / SageAttention2);
* NVFP4's per-tensor FP32 scales are applied once after accumulation (``alpha`` epilogue).

Exactness: products are formed in float64 (or int64) only where that is exact — checked from
the operand formats (significand bits p_a + p_b ≤ 53, exponents inside float64's normal range);
otherwise NumPy falls back to the exact reference (:mod:`simulator._matmul_ref`, Python
integers and fractions) and JAX raises. Sums of exact terms are rounded exactly once per adder
by :mod:`simulator._accumulate`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from lowbit.formats import MULTIPLIERS, FloatFormat, IntFormat, QArray, get
from lowbit.formats.backend import bitcast, use_numba

from ._accumulate import (
    Accumulator,
    add_round,
    as_accumulator,
    log2_ceil,
    precision_bits,
    round_to,
    tree_reduce,
    value_dtype,
)

__all__ = ["MULTIPLIERS", "ORDERS", "BLOCK_REDUCES", "Bounds", "default_accumulator", "build"]

ORDERS = ("sequential", "pairwise", "systolic")
BLOCK_REDUCES = ("exact", "accumulator")
BACKENDS = (None, "numpy", "jax", "reference")

#: Work (M·N·K multiply-adds) above which the exact Python reference is refused as a fallback.
REFERENCE_LIMIT = 1 << 22


# ============================================================================ value bounds
@dataclasses.dataclass(frozen=True)
class Bounds:
    """Every value is n·2^e with |n| < 2^p and e ≥ q; every |value| < 2^e1."""

    p: int
    q: int
    e1: int

    @staticmethod
    def of(fmt) -> Bounds:
        return Bounds(*precision_bits(fmt))

    def __mul__(self, o: Bounds) -> Bounds:
        return Bounds(self.p + o.p, self.q + o.q, self.e1 + o.e1)

    def sum_of(self, n: int) -> Bounds:
        """Bounds of an exact sum of ``n`` such values."""
        e1 = self.e1 + log2_ceil(max(n, 1))
        return Bounds(min(e1 - self.q, 10**6), self.q, e1)

    def exact_in(self, p: int, qmin: int, e1max: int) -> bool:
        return self.p <= p and self.q >= qmin and self.e1 <= e1max

    @property
    def exact_f64(self) -> bool:
        # normal float64 range only (2^-1022): JAX on CPU flushes float64 subnormals
        return self.exact_in(53, -1022, 1023)


# ============================================================================ operands
@dataclasses.dataclass
class Operand:
    """An operand prepared for the kernels, rows along K: ``a`` as (..., M, K), ``b`` as
    (..., N, K).

    ``values``: scalar values (float or int array), or for block formats the element values
    (..., R, J, bs); ``scales``: block scale values (..., R, J) or None; ``tensor_scale``: a
    scalar or None; ``bounds``: value bounds of the (element) values; ``scale_bounds``.
    """

    values: Any  # an array of the backend (NumPy or JAX)
    fmt: Any  # the operand's format record (FloatFormat, IntFormat, BlockFormat, LNSFormat, ...)
    bounds: Any  # Bounds, or None for LNS codes
    is_int: bool
    K: int
    scales: Any = None
    scale_bounds: Any = None
    tensor_scale: Any = None
    block_size: Any = None  # int, or None for scalar operands
    transposed: bool = False

    @property
    def is_block(self) -> bool:
        return self.scales is not None


_DTYPE_FORMATS = {"float16": "float16", "bfloat16": "bfloat16", "float32": "float32",
                  "float64": "float64", "int8": "int8", "int16": "int16", "int32": "int32",
                  "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "bool": "uint1"}


def _is_block_format(fmt) -> bool:
    return getattr(fmt, "family", None) == "block" or (
        hasattr(fmt, "element") and hasattr(fmt, "block_size") and hasattr(fmt, "scale"))


def _element_table(fmt):
    from lowbit import formats

    return formats.values(fmt)


def _take(xp, table, codes):
    if xp is np:
        return table[np.asarray(codes)]
    return xp.asarray(table)[codes.astype(xp.int32)]


def to_f64(xp, x):
    """``x`` as float64, exactly. On JAX, float32/bfloat16 go through their bit patterns: XLA on
    CPU treats subnormal inputs of an arithmetic conversion as zero."""
    if xp is np:
        return np.asarray(x).astype(np.float64)
    if x.dtype in (xp.float32, xp.bfloat16):
        from lowbit import formats

        if x.dtype == xp.bfloat16:
            bits = bitcast(x, "uint16").astype(xp.uint32) << 16
        else:
            bits = bitcast(x, "uint32")
        return formats.decode(QArray(codes=bits, format=get("float32"), shape=bits.shape), dtype="float64")
    return x.astype(xp.float64)


def _tensor_scale(xp, ts):
    if ts is None:
        return None
    ts = xp.asarray(ts)
    if ts.size != 1:
        raise ValueError(f"tensor_scale must hold one value, got shape {ts.shape}")
    return to_f64(xp, ts.reshape(()))


def _block_parts(xp, q: QArray, role: str):
    """Element values (..., R, J, bs), scale values (..., R, J), tensor scale (float64 or
    None), element and scale value bounds, block size — from a block-format QArray (layout of
    :class:`formats._block.BlockFormat`). Values come from exact float64 code tables."""
    fmt = q.format
    elem, sfmt, bs = fmt.element, fmt.scale, fmt.block_size
    nd = len(q.shape)
    want = nd - 1 if role == "a" else nd - 2
    if q.axis != want:
        which = "its last axis (K)" if role == "a" else "axis -2 (K)"
        raise ValueError(f"{role}: a block-format QArray must be blocked along {which}; got axis={q.axis} "
                         f"for shape {q.shape}")
    if bs is None:  # one block spanning K
        bs = q.codes.shape[-1]
    ev = _take(xp, _element_table(elem), q.codes)
    sv = _take(xp, _element_table(sfmt), q.scales)
    eb = Bounds.of(elem)
    implied = getattr(fmt, "element_exp", 0)
    if implied:  # integer elements: code × 2^-(w-2) (MXINT8: 2^-6, OCP MX v1.0 §5.3.4)
        ev = ev * (2.0 ** implied)
        eb = Bounds(eb.p, eb.q + implied, eb.e1 + implied)
    return ev, sv, _tensor_scale(xp, q.tensor_scale), eb, Bounds.of(sfmt), bs


def _lns_operand(xp, x, fmt, role: str, multiplier: str, K: int) -> Operand:
    """An LNS operand (``x`` an array or a QArray of ``fmt``).

    ``multiplier="lns"``: kept as codes (the multiplier adds their fields). Otherwise the
    products are exact products of values, which exist only for power-of-two formats
    (``frac_bits=0``: every value is 0 or ±2^k, exact in float64); other LNS values
    2^(n/2^frac_bits) are irrational.

    Raises:
        ValueError: an LNS format with fractional bits and a multiplier other than ``"lns"``.
    """
    from lowbit import formats

    codes = x.codes if isinstance(x, QArray) else formats.encode(x, fmt).codes
    if multiplier == "lns":
        codes = xp.swapaxes(codes, -1, -2) if role == "b" else codes
        return Operand(codes, fmt, None, False, K, transposed=role == "b")
    if fmt.frac_bits:
        raise ValueError(f"{role}_format={fmt} is an LNS format with frac_bits={fmt.frac_bits}: its values "
                         f"2^(n/{1 << fmt.frac_bits}) are irrational, so multiplier={multiplier!r} has no exact "
                         "products; use multiplier='lns' (both operands LNS) or a power-of-two format "
                         "(formats.power_of_two, frac_bits=0)")
    vals = _take(xp, _element_table(fmt), codes)  # 0, ±2^k and NaN: exact float64
    vals = xp.swapaxes(vals, -1, -2) if role == "b" else vals
    return Operand(vals.astype(xp.float64), fmt, Bounds.of(fmt), False, K, transposed=role == "b")


def prepare_operand(xp, x, fmt, role: str, multiplier: str = "exact") -> Operand:
    """Quantize/encode/decode one operand into an :class:`Operand` (values in float64/int64
    for NumPy; JAX callers run this under ``jax.enable_x64``). LNS operands stay codes for
    ``multiplier="lns"`` and become values otherwise (:func:`_lns_operand`)."""
    from lowbit import formats

    kaxis = -1 if role == "a" else -2
    if isinstance(x, QArray):
        if fmt is not None and get(fmt) != x.format:
            raise ValueError(f"{role}_format={fmt} does not match the QArray's format {x.format}")
        fmt = x.format
        if _is_block_format(fmt):
            ev, sv, ts, eb, sb, bs = _block_parts(xp, x, role)
            K = x.shape[kaxis]
            return Operand(ev.astype(xp.float64), fmt, eb, False, K, sv.astype(xp.float64), sb, ts, bs,
                           transposed=True)
        if getattr(fmt, "family", None) == "lns":
            return _lns_operand(xp, x, fmt, role, multiplier, x.shape[kaxis])
        vals = _take(xp, _element_table(fmt), x.codes) if fmt.bits <= 16 else formats.decode(x, "float64")
        x, q_input = (vals if fmt.bits <= 16 else to_f64(xp, vals)), True
    else:
        q_input = False
        if xp is np:
            x = np.asarray(x)
        if x.dtype.kind in "cOUSMm":
            raise TypeError(f"{role} must be a real (integer or float) array, got dtype {x.dtype}")
        if fmt is None:
            dn = x.dtype.name
            if dn not in _DTYPE_FORMATS:
                raise TypeError(f"{role}: unsupported dtype {dn}; pass {role}_format")
            fmt = formats.get(_DTYPE_FORMATS[dn])
            q_input = True  # values taken as they are
        fmt = get(fmt)
    if x.ndim < 2:
        raise ValueError(f"{role} must have at least 2 dimensions after promotion, got shape {x.shape}")
    K = x.shape[kaxis]
    if _is_block_format(fmt):
        if x.dtype.kind in "iub":
            x = x.astype(xp.float64)
        q = formats.encode(x, fmt, axis=kaxis if role == "a" else x.ndim - 2)
        ev, sv, ts, eb, sb, bs = _block_parts(xp, q, role)
        return Operand(ev.astype(xp.float64), fmt, eb, False, K, sv.astype(xp.float64), sb, ts, bs,
                       transposed=True)
    if getattr(fmt, "family", None) == "lns":
        return _lns_operand(xp, x, fmt, role, multiplier, K)
    if not isinstance(fmt, (FloatFormat, IntFormat)):
        raise ValueError(f"{role}_format must be a FloatFormat, an IntFormat, a power-of-two LNSFormat "
                         f"(any LNSFormat with multiplier='lns') or a block format, got "
                         f"{type(fmt).__name__} {fmt}")
    is_int = isinstance(fmt, IntFormat)
    if x.dtype.kind in "iub":
        if not isinstance(fmt, IntFormat):
            x = formats.quantize(x.astype(xp.float64), fmt)
        else:
            xi = x.astype(xp.int64)
            if xp is np and xi.size and (xi.min() < fmt.min or xi.max() > fmt.max):
                raise ValueError(f"{role}: integer values outside the range of {fmt} [{fmt.min}, {fmt.max}]")
            x = xi
    elif not q_input:
        x = formats.quantize(x, fmt)
    x = x.astype(xp.int64) if is_int else to_f64(xp, x)
    x = xp.swapaxes(x, -1, -2) if role == "b" else x
    return Operand(x, fmt, Bounds.of(fmt), is_int, K, transposed=role == "b")


def blockify(xp, op: Operand, bs: int) -> Operand:
    """A scalar operand cut into blocks of ``bs`` along K (zero padded) with unit scales."""
    v = op.values
    K = op.K
    J = -(-K // bs)
    pad = J * bs - K
    if pad:
        widths = [(0, 0)] * (v.ndim - 1) + [(0, pad)]
        v = xp.pad(v, widths)
    v = v.reshape(v.shape[:-1] + (J, bs)).astype(xp.float64)
    s = xp.ones(v.shape[:-1], dtype=xp.float64)
    return Operand(v, op.fmt, op.bounds, False, K, s, Bounds(1, 0, 1), None, bs, op.transposed)


def dequantize_blocks(xp, op: Operand) -> Operand:
    """Block operand → scalar operand of element × block-scale values (exact in float64)."""
    v = op.values * op.scales[..., None]
    v = v.reshape(v.shape[:-2] + (-1,))[..., :op.K]
    return Operand(v, op.fmt, op.bounds * op.scale_bounds, False, op.K, tensor_scale=op.tensor_scale,
                   transposed=op.transposed)


# ============================================================================ plan
@dataclasses.dataclass(frozen=True)
class Plan:
    """Static description of one emulation (hashable: a ``jax.jit`` static argument)."""

    terms: str                 # "product" | "block" | "lmul" | "lns"
    acc: Accumulator
    chunk_acc: Accumulator | None
    chunk: int | None          # terms per chunk
    order: str
    int_terms: bool            # terms are int64
    native32: bool             # float32 terms and native float32 adds throughout
    wrap_gemm: bool            # integer wrap everywhere: exact GEMMs + one wrap per stage
    f64_gemm: bool             # the exact integer GEMMs fit float64 (|partial sums| < 2^53)
    out_dtype: str
    epilogue: bool             # NVFP4 tensor scales
    mult_fmt: Any = None  # the format of L-Mul / LNS products (codes), else None
    lmul_variant: str = "bits"


def _validate_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def make_plan(A: Operand, B: Operand, *, multiplier, acc, chunk_acc, k_chunk, order, block_reduce,
              lmul_variant) -> tuple[Plan, Operand, Operand]:
    """Check the configuration and pick the kernels (operands from :func:`shape_operands`)."""
    if A.K != B.K:
        raise ValueError(f"inner dimensions differ: a has K={A.K}, b has K={B.K}")
    K = A.K
    # operands arrive shaped by shape_operands: both blocked, or both scalar values
    is_block = A.is_block
    bs: int = A.block_size if is_block else 0  # elements per block (block operands only)
    was_block = _is_block_format(A.fmt) or _is_block_format(B.fmt)
    if was_block and multiplier != "exact":
        raise ValueError(f"multiplier={multiplier!r} is not defined for block formats; use 'exact'")
    granularity = bs if is_block else 1
    if k_chunk is not None:
        if isinstance(k_chunk, bool) or not isinstance(k_chunk, (int, np.integer)) or k_chunk < 1:
            raise ValueError(f"k_chunk must be a positive int, got {k_chunk!r}")
        if k_chunk % granularity:
            raise ValueError(f"k_chunk must be a multiple of the block size {granularity} with "
                             f"block_reduce='exact', got {k_chunk}")
        chunk = int(k_chunk) // granularity
    else:
        if chunk_acc is not None:
            raise ValueError("chunk_accumulator needs k_chunk")
        chunk = None
    if order == "systolic" and chunk is None:
        chunk = -(-K // granularity) or 1  # one column pass covering all of K

    tensor = A.tensor_scale is not None or B.tensor_scale is not None
    if is_block:
        terms = "block"
        tb = (A.bounds * B.bounds).sum_of(bs) * A.scale_bounds * B.scale_bounds
        if not tb.exact_f64:
            raise _NotExact(f"block dot products of {A.fmt} x {B.fmt} are not exact in float64 ({tb})")
        int_terms = False
    else:
        terms = multiplier if multiplier != "exact" else "product"
        int_terms = A.is_int and B.is_int and multiplier == "exact"
        if multiplier == "exact":
            pb = A.bounds * B.bounds
            if not pb.exact_f64 and not (int_terms and _int_top(A.fmt) * _int_top(B.fmt) <= 1 << 62):
                raise _NotExact(f"products of {A.fmt} x {B.fmt} are not exact in float64 ({pb})")
        else:
            fam = "lns" if multiplier == "lns" else "float"
            for who, op in (("a", A), ("b", B)):
                if getattr(op.fmt, "family", None) != fam:
                    raise ValueError(f"multiplier={multiplier!r} needs {who}_format to be "
                                     f"{'an LNSFormat' if fam == 'lns' else 'a FloatFormat'}, got {op.fmt}")
    first = chunk_acc if (chunk is not None and chunk_acc is not None) else acc
    if first.is_int and not int_terms:
        raise ValueError(f"integer accumulator {first} needs integer products (IntFormat operands and "
                         "multiplier='exact')")
    if chunk_acc is not None and acc.is_int and not chunk_acc.is_int:
        raise ValueError("a float chunk_accumulator cannot be promoted into an integer accumulator")
    if int_terms and not first.is_int:
        pb = A.bounds * B.bounds
        if pb.e1 > 53:
            raise _NotExact(f"integer products of {A.fmt} x {B.fmt} exceed float64's exact integers")
    if tensor and acc.is_int:
        raise ValueError("tensor scales need a float accumulator")

    stages = [acc] + ([chunk_acc] if chunk_acc is not None else [])
    native32 = (terms == "product" and not int_terms and all(s.is_float32_native for s in stages)
                and (A.bounds * B.bounds).exact_in(24, -126, 128))
    wrap_gemm = (int_terms and terms == "product" and all(s.is_int and s.overflow == "wrap" for s in stages))
    n_in = chunk if chunk is not None else K
    f64_gemm = wrap_gemm and (A.bounds * B.bounds).sum_of(max(n_in, 1)).e1 <= 53
    mult_fmt = None
    if multiplier in ("lmul", "lns"):
        if A.fmt != B.fmt:
            raise ValueError(f"multiplier={multiplier!r} needs both operands in one format, got "
                             f"{A.fmt} and {B.fmt}")
        mult_fmt = A.fmt
    plan = Plan(terms, acc, chunk_acc if chunk is not None else None, chunk, order, int_terms,
                native32, wrap_gemm, f64_gemm, value_dtype(acc).name, tensor, mult_fmt, lmul_variant)
    return plan, A, B


def _int_top(fmt) -> int:
    """Largest magnitude of an IntFormat (products of two fit int64, with room for a 32-bit sum,
    when top_a · top_b ≤ 2^62)."""
    return max(-fmt.min, fmt.max)


class _NotExact(ValueError):
    """Raised when float64 cannot hold the products exactly (NumPy then uses the reference)."""


# ============================================================================ kernels (xp-generic)
def multiply(xp, plan: Plan, a, b):
    """Products of broadcast operand values under the plan's multiplier (float64 / int64).

    ``lmul``: the operands are codes; ``formats.lmul_codes`` (the code-level kernel of
    :func:`formats.lmul`: one implementation of L-Mul, in formats) gives the product's code,
    looked up as float64.
    ``lns``: the operands are LNS *codes*; the product is the exact log-domain product
    (field addition, :func:`formats.lns_multiply`, saturating) converted to the nearest
    float64 of its value."""
    if plan.terms == "product":
        return a * b
    from lowbit import formats

    if plan.terms == "lmul":
        fmt = plan.mult_fmt
        pc = formats.lmul_codes(a, b, fmt, variant=plan.lmul_variant)
        if fmt.bits <= 16:
            return _take(xp, _element_table(fmt), pc)
        return formats.decode(QArray(codes=pc, format=fmt, shape=tuple(pc.shape)), dtype="float64")
    if plan.terms == "lns":
        shape = tuple(np.broadcast_shapes(a.shape, b.shape))
        a = xp.broadcast_to(a, shape)
        b = xp.broadcast_to(b, shape)
        fmt = plan.mult_fmt
        qp = formats.lns_multiply(QArray(codes=a, format=fmt, shape=shape), QArray(codes=b, format=fmt, shape=shape))
        return formats.decode(qp, dtype="float64")
    raise AssertionError(plan.terms)  # pragma: no cover


def int_gemm_exact(xp, A, Bt, f64: bool):
    """Σ_k A[..., m, k] Bt[..., n, k] exactly (mod 2^64 for int64 GEMMs)."""
    if f64:
        if xp is np:
            return np.matmul(A.astype(np.float64), np.swapaxes(Bt, -1, -2).astype(np.float64)).astype(np.int64)
        from jax import lax

        r = xp.matmul(A.astype(xp.float64), xp.swapaxes(Bt, -1, -2).astype(xp.float64),
                      precision=lax.Precision.HIGHEST)
        return r.astype(xp.int64)
    return xp.matmul(A, xp.swapaxes(Bt, -1, -2))


def block_terms(xp, A: Operand, B: Operand):
    """All block terms, stacked first: (J, ..., M, N) float64 — exact block sums × scales."""
    Ae = xp.moveaxis(A.values, -2, 0)                 # (J, ..., M, bs)
    Be = xp.swapaxes(xp.moveaxis(B.values, -2, 0), -1, -2)  # (J, ..., bs, N)
    if xp is np:
        S = np.matmul(np.ascontiguousarray(Ae), np.ascontiguousarray(Be))
    else:
        from jax import lax

        S = xp.matmul(Ae, Be, precision=lax.Precision.HIGHEST)
    sa = xp.moveaxis(A.scales, -1, 0)[..., :, None]
    sb = xp.moveaxis(B.scales, -1, 0)[..., None, :]
    return S * (sa * sb)


def _add(xp, acc_vals, t, acc: Accumulator, plan: Plan):
    if plan.native32:
        return acc_vals + t
    if acc.is_int and not plan.int_terms:  # pragma: no cover - rejected by make_plan
        raise ValueError("integer accumulator with non-integer terms")
    if not acc.is_int and t.dtype != xp.float64 and not plan.native32:
        t = t.astype(xp.float64)
    if not acc.is_int and acc_vals.dtype != xp.float64:
        acc_vals = acc_vals.astype(xp.float64)
    return add_round(xp, acc_vals, t, acc)


def _reduce_tree(xp, T, acc, plan):
    if plan.native32:
        n = T.shape[-1]
        if n == 0:
            return xp.zeros(T.shape[:-1], dtype=T.dtype)
        x = T
        while x.shape[-1] > 1:
            L = x.shape[-1]
            pairs = x[..., 0:L - 1:2] + x[..., 1:L:2]
            x = xp.concatenate([pairs, x[..., L - 1:]], axis=-1) if L % 2 else pairs
        return x[..., 0]
    if not acc.is_int and T.dtype != xp.float64:
        T = T.astype(xp.float64)
    return tree_reduce(xp, T, acc)


def _zeros(xp, shape, plan, acc):
    if plan.native32:
        return xp.zeros(shape, dtype=xp.float32)
    return xp.zeros(shape, dtype=xp.int64 if acc.is_int else xp.float64)


def _to_stage(xp, v, acc, plan):
    """Values produced by an inner stage, as the dtype of the outer stage."""
    if plan.native32 or acc.is_int:
        return v
    return v.astype(xp.float64)


def run_core(xp, fori, term, terms_range, J, out_shape, plan: Plan, init):
    """Accumulate J terms per output element according to the plan.

    Args:
        fori: ``fori(lo, hi, body, carry)`` loop (Python loop or ``lax.fori_loop``).
        term: ``term(j)`` → (..., M, N) terms for one reduction index (j may be traced).
        terms_range: ``terms_range(j0, n)`` → (..., M, N, n) terms (static j0, n).
    """
    acc, cacc = plan.acc, plan.chunk_acc or plan.acc
    s = _zeros(xp, out_shape, plan, acc) if init is None else init
    if plan.chunk is None:
        if plan.order == "pairwise":
            t = _reduce_tree(xp, terms_range(0, J), acc, plan)
            return _add(xp, s, t, acc, plan)
        return fori(0, J, lambda j, c: _add(xp, c, term(j), acc, plan), s)
    c = plan.chunk
    n_full, rem = divmod(J, c)

    def chunk_sum(j0, n, static):
        if plan.order == "pairwise":
            return _reduce_tree(xp, terms_range(j0, n), cacc, plan)
        z = _zeros(xp, out_shape, plan, cacc)
        if static:
            return fori(j0, j0 + n, lambda j, cc: _add(xp, cc, term(j), cacc, plan), z)
        return fori(0, n, lambda i, cc: _add(xp, cc, term(j0 + i), cacc, plan), z)

    if plan.order == "pairwise":
        for i in range(n_full):
            s = _add(xp, s, _to_stage(xp, chunk_sum(i * c, c, True), acc, plan), acc, plan)
    else:
        s = fori(0, n_full, lambda i, sc: _add(
            xp, sc, _to_stage(xp, chunk_sum(i * c, c, False), acc, plan), acc, plan), s)
    if rem:
        s = _add(xp, s, _to_stage(xp, chunk_sum(n_full * c, rem, True), acc, plan), acc, plan)
    return s


def run_wrap_gemm(xp, A: Operand, B: Operand, plan: Plan, init):
    """Integer accumulation with wrap at every stage: exact GEMMs per chunk, one wrap per stage
    (wrapping is a ring homomorphism, so this equals wrapping after every addition, in any
    order)."""
    acc, cacc = plan.acc, plan.chunk_acc or plan.acc
    K = A.K
    if plan.chunk is None:
        S = int_gemm_exact(xp, A.values, B.values, plan.f64_gemm)
        s = S if init is None else init + S
        return round_to(xp, s, acc)
    c = plan.chunk
    s = None if init is None else init
    for j0 in range(0, K, c):
        S = int_gemm_exact(xp, A.values[..., j0:j0 + c], B.values[..., j0:j0 + c], plan.f64_gemm)
        S = round_to(xp, S, cacc)
        s = S if s is None else s + S
    if s is None:
        s = xp.zeros(xp.broadcast_shapes(A.values.shape[:-1], B.values.shape[:-2] + (1,))[:-1] +
                     (A.values.shape[-2], B.values.shape[-2]), dtype=xp.int64)
    return round_to(xp, s, acc)


def output_shape(A: Operand, B: Operand):
    ra = A.values.shape[:-2] if A.is_block else A.values.shape[:-1]
    rb = B.values.shape[:-2] if B.is_block else B.values.shape[:-1]
    batch = np.broadcast_shapes(ra[:-1], rb[:-1])
    return tuple(batch) + (ra[-1], rb[-1])


def make_term_fns(xp, A: Operand, B: Operand, plan: Plan):
    """(term, terms_range, J) for the plan's term kind."""
    if plan.terms == "block":
        T = block_terms(xp, A, B)  # (J, ..., M, N)
        J = T.shape[0]

        def block_term(j):
            return T[j]

        def block_terms_range(j0, n):
            return xp.moveaxis(T[j0:j0 + n], 0, -1)

        return block_term, block_terms_range, J
    if plan.terms in ("lmul", "lns"):  # operands are codes
        Av, Bv = A.values, B.values
    else:
        dt = xp.float32 if plan.native32 else (xp.int64 if plan.int_terms else xp.float64)
        Av, Bv = A.values.astype(dt), B.values.astype(dt)
    At = xp.moveaxis(Av, -1, 0)  # (K, ..., M)
    Bt = xp.moveaxis(Bv, -1, 0)  # (K, ..., N)
    if xp is np:  # rows of K contiguous: one cheap outer product per step
        At, Bt = np.ascontiguousarray(At), np.ascontiguousarray(Bt)
    J = A.K

    def term(j):
        return multiply(xp, plan, At[j][..., :, None], Bt[j][..., None, :])

    def terms_range(j0, n):
        a = xp.moveaxis(At[j0:j0 + n], 0, -1)[..., :, None, :]
        b = xp.moveaxis(Bt[j0:j0 + n], 0, -1)[..., None, :, :]
        return multiply(xp, plan, a, b)

    return term, terms_range, J


def check_init(v, shape) -> None:
    """``init`` must be real and broadcast to the output ``shape`` without enlarging it.

    Raises:
        TypeError: complex, string or object values. ValueError: a shape that does not fit.
    """
    if v.dtype.kind in "cOUSMm":
        raise TypeError(f"init must be a real number or array, got dtype {v.dtype}")
    try:
        fits = np.broadcast_shapes(tuple(v.shape), tuple(shape)) == tuple(shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"init of shape {tuple(v.shape)} does not broadcast to the output shape {tuple(shape)}")


def prepare_init(xp, init, plan: Plan, shape):
    if init is None:
        return None
    acc = plan.acc
    v = xp.asarray(init)
    check_init(v, shape)
    if acc.is_int:
        if v.dtype.kind == "f":
            if xp is np and not np.all(np.equal(np.mod(v, 1), 0)):
                raise ValueError("init must hold integers for an integer accumulator")
        v = round_to(xp, v.astype(xp.int64), acc)
    elif plan.native32:
        v = round_to(xp, v.astype(xp.float64), acc).astype(xp.float32)
    else:
        v = round_to(xp, v.astype(xp.float64), acc)
    return xp.broadcast_to(v, shape)


def epilogue(xp, vals, A: Operand, B: Operand, plan: Plan):
    """NVFP4-style per-tensor scales: out = round_acc(acc × round_f32(ts_A × ts_B))."""
    if not plan.epilogue:
        return vals
    from lowbit import formats

    f32 = formats.get("float32")
    one = xp.asarray(1.0, dtype=xp.float64)
    ta = one if A.tensor_scale is None else xp.asarray(A.tensor_scale).astype(xp.float64)
    tb = one if B.tensor_scale is None else xp.asarray(B.tensor_scale).astype(xp.float64)
    alpha = round_to(xp, ta * tb, Accumulator(f32))
    acc_fmt: Any = plan.acc.format  # a float accumulator here (products of float scales)
    if acc_fmt.precision + 24 > 53:
        raise ValueError("the tensor-scale epilogue needs an accumulator of at most 29 bits precision")
    return round_to(xp, vals.astype(xp.float64) * alpha, plan.acc)


def finish_numpy(vals, plan: Plan):
    with np.errstate(over="ignore"):
        return np.asarray(vals).astype(plan.out_dtype)


def default_accumulator(a_format, b_format, multiplier: str = "exact") -> Accumulator:
    """The accumulator :func:`matmul` uses when none is given: the one rule of
    :func:`formats.default_accumulator` (``int32``, wrapping, for integer × integer with the
    exact multiplier; ``float32`` otherwise), which the ``hwmodels`` cost models share.
    Operands without a format (plain arrays) count as float."""
    from lowbit import formats

    a = a_format if a_format is not None else get("float32")
    b = b_format if b_format is not None else get("float32")
    return Accumulator(formats.default_accumulator(a, b, multiplier))


def shape_operands(xp, A: Operand, B: Operand, block_reduce: str):
    """Both operands blocked (``block_reduce="exact"`` with a block format on either side; the
    scalar side gets unit scales) or both scalar (block operands dequantized)."""
    if not (A.is_block or B.is_block):
        return A, B
    if A.is_block and B.is_block and A.block_size != B.block_size:
        raise ValueError(f"block sizes differ: a {A.block_size}, b {B.block_size}")
    if block_reduce == "exact":
        bs = A.block_size if A.is_block else B.block_size
        return (A if A.is_block else blockify(xp, A, bs)), (B if B.is_block else blockify(xp, B, bs))
    return (dequantize_blocks(xp, A) if A.is_block else A), (dequantize_blocks(xp, B) if B.is_block else B)


def _as_codes(xp, op: Operand, role: str) -> Operand:
    from lowbit import formats

    if not isinstance(op.fmt, FloatFormat) or op.is_block:
        raise ValueError(f"multiplier='lmul' needs {role}_format to be a scalar FloatFormat, got {op.fmt}")
    codes = formats.encode(op.values, op.fmt).codes
    return dataclasses.replace(op, values=codes)


def build(xp, a, b, cfg):
    """Operands and plan (shared by the NumPy and JAX drivers)."""
    A = prepare_operand(xp, a, cfg["a_format"], "a", cfg["multiplier"])
    B = prepare_operand(xp, b, cfg["b_format"], "b", cfg["multiplier"])
    acc = (default_accumulator(A.fmt, B.fmt, cfg["multiplier"]) if cfg["accumulator"] is None
           else as_accumulator(cfg["accumulator"]))
    cacc = None if cfg["chunk_accumulator"] is None else as_accumulator(
        cfg["chunk_accumulator"], param="chunk_accumulator")
    if A.K != B.K:
        raise ValueError(f"inner dimensions differ: a has K={A.K}, b has K={B.K}")
    A, B = shape_operands(xp, A, B, cfg["block_reduce"])
    if xp is np:  # the values are at hand: bounds of this data, not of every value of the format
        A, B = _data_bounded(A), _data_bounded(B)
    if cfg["multiplier"] == "lmul":  # L-Mul works on codes: encode the (exact) values once
        A, B = _as_codes(xp, A, "a"), _as_codes(xp, B, "b")
    try:
        plan, A, B = make_plan(A, B, multiplier=cfg["multiplier"], acc=acc, chunk_acc=cacc,
                               k_chunk=cfg["k_chunk"], order=cfg["order"],
                               block_reduce=cfg["block_reduce"], lmul_variant=cfg["lmul_variant"])
    except _NotExact as exc:
        exc.operands = (A, B, acc, cacc)
        raise
    return A, B, plan


def _numpy_fori(lo, hi, body, carry):
    for i in range(lo, hi):
        carry = body(i, carry)
    return carry


#: Elements of the (rows, N, K) term block the pairwise NumPy path materializes at once.
_PAIRWISE_BLOCK = 1 << 23


def _matmul_numpy(a, b, init, cfg, *, reference=False):
    # IEEE special values are part of the emulation (Inf - Inf in TwoSum, Inf x 0, overflow):
    # NumPy's warnings about them are not errors of the caller.
    with np.errstate(invalid="ignore", over="ignore"):
        return _matmul_numpy_impl(a, b, init, cfg, reference=reference)


def _matmul_numpy_impl(a, b, init, cfg, *, reference=False):
    if reference:
        return _matmul_reference(a, b, init, cfg)
    try:
        A, B, plan = build(np, a, b, cfg)
    except _NotExact:
        if cfg["multiplier"] != "exact":
            raise
        return _matmul_reference(a, b, init, cfg)
    plan = _refine_native32(A, B, plan)
    shape = output_shape(A, B)
    init_v = prepare_init(np, init, plan, shape)
    if plan.wrap_gemm:
        vals = run_wrap_gemm(np, A, B, plan, init_v)
    else:
        M = shape[-2]
        per_row = math.prod(shape[:-2]) * shape[-1] * max(A.K, 1)
        rows = M if plan.order != "pairwise" else max(1, _PAIRWISE_BLOCK // max(per_row, 1))
        if rows >= M:
            vals = _run_rows(A, B, plan, init_v, shape)
        else:
            parts = []
            for r0 in range(0, M, rows):
                Ar = dataclasses.replace(A, values=A.values[..., r0:r0 + rows, :] if not A.is_block else
                                         A.values[..., r0:r0 + rows, :, :],
                                         scales=None if A.scales is None else A.scales[..., r0:r0 + rows, :])
                sub = shape[:-2] + (min(rows, M - r0), shape[-1])
                iv = None if init_v is None else init_v[..., r0:r0 + rows, :]
                parts.append(_run_rows(Ar, B, plan, iv, sub))
            vals = np.concatenate(parts, axis=-2)
    vals = epilogue(np, vals, A, B, plan)
    return finish_numpy(vals, plan)


def data_bounds(values, b: Bounds) -> Bounds:
    """Tighter bounds from the actual values (finite, non-zero): the same precision p, the
    exponent of the largest magnitude and of the smallest magnitude's last significand bit."""
    v = np.abs(np.asarray(values, dtype=np.float64))
    v = v[np.isfinite(v) & (v != 0)]
    if v.size == 0:
        return Bounds(b.p, 0, 0)
    _, e_hi = np.frexp(v.max())
    _, e_lo = np.frexp(v.min())
    return Bounds(b.p, max(b.q, int(e_lo) - b.p), min(b.e1, int(e_hi)))


def _data_bounded(op: Operand) -> Operand:
    """NumPy: ``op`` with the bounds of its actual values and scales (:func:`data_bounds`).
    The plan's exactness checks then hold for this data rather than for the whole format, so
    e.g. bfloat16 × MXFP4 block dot products, exact in float64 for any real tensor but not for
    bfloat16's full 2^±127 range, take the float kernels instead of the fractions reference."""
    if op.bounds is None:
        return op
    sb = op.scale_bounds
    if op.scales is not None and sb is not None:
        sb = data_bounds(op.scales, sb)
    return dataclasses.replace(op, bounds=data_bounds(op.values, op.bounds), scale_bounds=sb)


def _refine_native32(A: Operand, B: Operand, plan: Plan) -> Plan:
    """NumPy only: take the native float32 path when the data (their bounds: see
    :func:`_data_bounded`) keep every product exact in float32, adding float32 subnormals exactly
    (NumPy does not flush them) where the plan assumed the normal range. The results are
    identical either way; this is only faster."""
    if plan.native32 or plan.terms != "product" or plan.int_terms:
        return plan
    stages = [plan.acc] + ([plan.chunk_acc] if plan.chunk_acc is not None else [])
    if not all(s.is_float32_native for s in stages):
        return plan
    if A.bounds is None or B.bounds is None:
        return plan
    if not np.all(np.isfinite(A.values)) or not np.all(np.isfinite(B.values)):
        return plan
    if (A.bounds * B.bounds).exact_in(24, -149, 128):
        return dataclasses.replace(plan, native32=True)
    return plan


def _numba_eligible(A, B, plan, shape) -> bool:
    if plan.order not in ("sequential", "systolic") or plan.native32 or plan.int_terms:
        return False
    if plan.terms not in ("product", "block") or len(shape) != 2:
        return False
    if plan.acc.is_int or (plan.chunk_acc is not None and plan.chunk_acc.is_int):
        return False
    # work = output elements × terms; from formats.backend.NUMBA_THRESHOLDS["gemm"] the compiled
    # kernel (_matmul_numba) accumulates instead of the array loop over K (the same bits)
    J = A.values.shape[-2] if plan.terms == "block" else A.K
    if not use_numba("gemm", math.prod(shape) * max(J, 1)):
        return False
    from ._matmul_numba import supported

    return supported(plan.acc) and (plan.chunk_acc is None or supported(plan.chunk_acc))


def _run_rows(A, B, plan, init_v, shape):
    if _numba_eligible(A, B, plan, shape):
        from ._matmul_numba import sequential_float

        if plan.terms == "block":
            return sequential_float(None, None, block_terms(np, A, B), init_v, plan)
        return sequential_float(A.values, B.values, None, init_v, plan)
    term, terms_range, J = make_term_fns(np, A, B, plan)
    return run_core(np, _numpy_fori, term, terms_range, J, shape, plan, init_v)


def _matmul_reference(a, b, init, cfg):
    """The exact reference (:mod:`simulator._matmul_ref`) on NumPy operands."""
    from ._matmul_ref import add_exact, exact, mul_exact, ref_matmul_terms, round_to_acc, to_float

    try:
        A, B, plan = build(np, a, b, cfg)
    except _NotExact as exc:  # products not exact in float64: the reference needs no float kernels
        A, B, acc, cacc = exc.operands
        gran = A.block_size if A.is_block else 1
        k_chunk = cfg["k_chunk"]
        chunk = (k_chunk // gran if k_chunk is not None else
                 (max(-(-A.K // gran), 1) if cfg["order"] == "systolic" else None))
        plan = Plan("block" if A.is_block else "product", acc, cacc if chunk is not None else None, chunk,
                    cfg["order"], A.is_int and B.is_int, False, False, False, value_dtype(acc).name,
                    A.tensor_scale is not None or B.tensor_scale is not None)
        first = plan.chunk_acc or plan.acc
        if first.is_int and not plan.int_terms:
            raise ValueError(f"integer accumulator {first} needs integer products") from None
    shape = output_shape(A, B)
    work = math.prod(shape) * max(A.K, 1)
    if work > REFERENCE_LIMIT:
        raise ValueError(f"the exact reference handles at most {REFERENCE_LIMIT} multiply-adds, got {work}")
    lead = shape[:-2]
    Av = np.broadcast_to(A.values, lead + A.values.shape[-3 if A.is_block else -2:])
    Bv = np.broadcast_to(B.values, lead + B.values.shape[-3 if B.is_block else -2:])
    if A.is_block:
        As = np.broadcast_to(A.scales, lead + A.scales.shape[-2:])
        Bs = np.broadcast_to(B.scales, lead + B.scales.shape[-2:])
    if init is not None:
        check_init(np.asarray(init), shape)
    init_b = None if init is None else np.broadcast_to(np.asarray(init), shape)
    out = np.empty(shape, dtype=object)

    def mult(x, y):
        if plan.terms in ("lmul", "lns"):
            return exact(multiply(np, plan, np.asarray([x]), np.asarray([y]))[0])
        return mul_exact(exact(x), exact(y))

    for idx in np.ndindex(*shape):
        bi, m, n = idx[:-2], idx[-2], idx[-1]
        if plan.terms == "block":
            terms = []
            for j in range(Av.shape[-2]):
                s = exact(0)
                for i in range(Av.shape[-1]):
                    s = add_exact(s, mul_exact(exact(Av[bi + (m, j, i)]), exact(Bv[bi + (n, j, i)])))
                terms.append(mul_exact(s, mul_exact(exact(As[bi + (m, j)]), exact(Bs[bi + (n, j)]))))
        else:
            terms = [mult(Av[bi + (m, k)], Bv[bi + (n, k)]) for k in range(A.K)]
        iv = None if init_b is None else round_to_acc(exact(init_b[idx]), plan.acc)
        out[idx] = ref_matmul_terms(terms, plan.acc, chunk=plan.chunk, chunk_acc=plan.chunk_acc,
                                    order=plan.order, init=iv)
    if plan.epilogue:
        f32 = Accumulator(get("float32"))
        ta = exact(1) if A.tensor_scale is None else exact(float(A.tensor_scale))
        tb = exact(1) if B.tensor_scale is None else exact(float(B.tensor_scale))
        alpha = round_to_acc(mul_exact(ta, tb), f32)
        for idx in np.ndindex(*shape):
            out[idx] = round_to_acc(mul_exact(out[idx], alpha), plan.acc)
    if plan.acc.is_int:
        res = np.array([int(v) for v in out.ravel()], dtype=np.int64).reshape(shape)
        return res.astype(plan.out_dtype)
    res = np.array([to_float(v) for v in out.ravel()], dtype=np.float64).reshape(shape)
    with np.errstate(over="ignore"):
        return res.astype(plan.out_dtype)
