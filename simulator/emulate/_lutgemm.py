"""Functional model of LUT-based GEMM (LUT-GEMM, T-MAC): multiply by table lookup.

Weights are split into one-bit planes — b-bit integers into b planes of {0, 1} (T-MAC, Wei et al.,
arXiv 2407.00088, §3.1), or binary-coding quantization (BCQ) planes of {−1, +1} with per-plane
scales α (LUT-GEMM, Park et al., arXiv 2206.09557, §3) — or are indices into a codebook.
Activations are cut into groups of g along K; for every activation row and group a table holds
the partial sums of the group for every pattern of g weight bits: 2^g entries, or 2^(g−1) with
sign symmetry (an entry for a pattern and for its complement are negatives of each other in the
±1 form; T-MAC §3.2, LUT Tensor Core arXiv 2408.06003 §4). Each output then sums one lookup per
group and plane, and combines the planes with their weights (2^i, or α_i).

The model computes exactly what such a datapath computes (integer tables → the integer GEMM,
exactly; ``table_format`` → tables rounded to that precision) and counts the operations it
performed, for the cost models (:class:`LutCounts`; :func:`lut_gemm_counts` gives the same
numbers from the shapes alone).

Table construction (counted in ``table_adds``): {0,1} tables start from T[0] = 0 and build
T[p] = T[p without its lowest set bit] + x_t, one add per entry with two or more bits set
(single-bit entries are copies of x_t). Sign-symmetric ±1 tables start from T[0] = −Σx (g − 1
adds, one negation), then T[p] = T[p without its lowest set bit] + 2x_t (the doubled
activations are g shifts), one add per further entry; lookups of patterns with the top bit set
read the complement's entry and negate it (``negations``). A {0,1} plane read from a ±1 table
uses Σ_t x_t q_t = (Σ_t x_t s_t + Σ_t x_t) / 2 (T-MAC §3.2): per output and plane one add of the
row sum and one halving (``correction_adds``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from lowbit.formats import FloatFormat, IntFormat, QArray, get

__all__ = ["LutCounts", "LutResult", "lut_gemm", "lut_gemm_bcq", "lut_gemm_codebook", "lut_gemm_counts"]


@dataclasses.dataclass(frozen=True)
class LutCounts:
    """Operations of one LUT GEMM (m×k activations, k×n weights). Plain integers.

    Attributes:
        m, k, n: GEMM shape. bits: weight planes (1 for codebooks). group_size: g.
        groups: ⌈k/g⌉ activation groups per row.
        entries_per_table: stored entries per table (2^g, 2^(g−1), or the codebook size).
        tables: tables built (m · groups).
        table_adds: additions to build all tables; table_muls: multiplications (codebooks).
        table_shifts: doublings of activations (sign-symmetric tables); table_negations: ditto.
        lookups: table reads (m · n · groups · bits).
        negations: lookups of a complement entry that were negated (sign symmetry; data
            dependent — the analytic count assumes half of them).
        accumulate_adds: additions summing lookups into per-plane partial sums.
        correction_adds: additions of the activation row sum ({0,1} planes from ±1 tables).
        row_sum_adds: additions computing the activation row sums (once per row).
        plane_adds: additions combining the planes into the output.
        scale_ops: shifts (2^i planes) or multiplications (BCQ α, per-table scales).
    """

    m: int
    k: int
    n: int
    bits: int
    group_size: int
    groups: int
    entries_per_table: int
    tables: int
    table_adds: int
    table_muls: int
    table_shifts: int
    table_negations: int
    lookups: int
    negations: int
    accumulate_adds: int
    correction_adds: int
    row_sum_adds: int
    plane_adds: int
    scale_ops: int

    @property
    def adds(self) -> int:
        """All additions: table build, accumulation, corrections, row sums, plane combination."""
        return (self.table_adds + self.accumulate_adds + self.correction_adds + self.row_sum_adds
                + self.plane_adds)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["adds"] = self.adds
        return d


class LutResult(NamedTuple):
    """(output, counts) of a LUT GEMM."""

    output: np.ndarray
    counts: LutCounts


# ------------------------------------------------------------------------ table arithmetic
class _Counter:
    def __init__(self):
        self.c = {}

    def add(self, key, n):
        self.c[key] = self.c.get(key, 0) + int(n)

    def __getitem__(self, key):
        return self.c.get(key, 0)


def _check_group(group_size):
    if isinstance(group_size, bool) or not isinstance(group_size, int) or not 1 <= group_size <= 12:
        raise ValueError(f"group_size must be an int in [1, 12], got {group_size!r}")


def _groups(x, g):
    """Activations (M, K) → (M, G, g), K zero-padded to a multiple of g."""
    M, K = x.shape
    G = -(-K // g)
    pad = G * g - K
    if pad:
        x = np.concatenate([x, np.zeros((M, pad), dtype=x.dtype)], axis=1)
    return x.reshape(M, G, g)


def _build_tables(xg, symmetric: bool, cnt: _Counter):
    """Tables (M, G, entries) of partial sums, built incrementally as the hardware would."""
    M, G, g = xg.shape
    if not symmetric:
        T = np.zeros((M, G, 1 << g), dtype=xg.dtype)
        for p in range(1, 1 << g):
            low = (p & -p).bit_length() - 1
            parent = p & (p - 1)
            if parent == 0:
                T[:, :, p] = xg[:, :, low]  # a copy of x_t
            else:
                T[:, :, p] = T[:, :, parent] + xg[:, :, low]
                cnt.add("table_adds", M * G)
        return T
    half = 1 << (g - 1)
    T = np.zeros((M, G, half), dtype=xg.dtype)
    T[:, :, 0] = -xg.sum(axis=2)  # all signs −1
    cnt.add("table_adds", M * G * (g - 1))
    cnt.add("table_negations", M * G)
    x2 = 2 * xg[:, :, : g - 1]
    cnt.add("table_shifts", M * G * (g - 1))
    for p in range(1, half):
        low = (p & -p).bit_length() - 1
        T[:, :, p] = T[:, :, p & (p - 1)] + x2[:, :, low]
        cnt.add("table_adds", M * G)
    return T


def _lookup(T, P, symmetric: bool, g: int, cnt: _Counter):
    """Σ_G T[m, G, P[G, n]] → (M, N); P holds g-bit patterns (G, N)."""
    M, G, _ = T.shape
    N = P.shape[1]
    gi = np.arange(G)[:, None]
    if symmetric:
        mask = (1 << g) - 1
        top = (P >> (g - 1)) & 1
        idx = np.where(top == 1, P ^ mask, P)
        vals = T[:, gi, idx]  # (M, G, N)
        vals = np.where(top[None] == 1, -vals, vals)
        cnt.add("negations", M * int(top.sum()))
    else:
        vals = T[:, gi, P]
    cnt.add("lookups", M * G * N)
    cnt.add("accumulate_adds", M * N * max(G - 1, 0))
    return vals.sum(axis=1)


def _patterns(bits_kn, g):
    """{0,1} plane (K, N) → g-bit patterns per group (G, N); bit t = row g·G + t."""
    K, N = bits_kn.shape
    G = -(-K // g)
    pad = G * g - K
    if pad:
        bits_kn = np.concatenate([bits_kn, np.zeros((pad, N), dtype=bits_kn.dtype)], axis=0)
    b = bits_kn.reshape(G, g, N).astype(np.int64)
    return (b << np.arange(g)[None, :, None]).sum(axis=1)


def _quantize_tables(T, table_format, cnt):
    """Round tables to ``table_format``: a FloatFormat (entries rounded), or an IntFormat
    (per-table absmax scale, entries rounded to integers; the scale is applied per group)."""
    if table_format is None:
        return T, None
    from lowbit import formats

    fmt = get(table_format)
    Tf = T.astype(np.float64)
    if isinstance(fmt, FloatFormat):
        return formats.quantize(Tf, fmt), None
    if isinstance(fmt, IntFormat):
        amax = np.abs(Tf).max(axis=2, keepdims=True)
        scale = np.where(amax > 0, amax / fmt.max, 1.0)
        q = formats.quantize(Tf / scale, fmt)
        return q, scale[..., 0]
    raise ValueError(f"table_format must be a FloatFormat or IntFormat, got {fmt}")


def _as_float_or_int(x, name):
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be 2-D (M, K), got shape {x.shape}")
    if x.dtype.kind in "iub":
        return x.astype(np.int64)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a float or integer array, got dtype {x.dtype}")
    return x.astype(np.float64)


def _finish(cnt: _Counter, m, k, n, bits, g, entries) -> LutCounts:
    G = -(-k // g)
    d = dict(m=m, k=k, n=n, bits=bits, group_size=g, groups=G, entries_per_table=entries,
             tables=m * G)
    for f in ("table_adds", "table_muls", "table_shifts", "table_negations", "lookups", "negations",
              "accumulate_adds", "correction_adds", "row_sum_adds", "plane_adds", "scale_ops"):
        d[f] = cnt[f]
    return LutCounts(**d)


def _grouped_sum(T, P, symmetric, g, cnt, tscale):
    """Lookups summed over groups, with per-table scales applied per group when present."""
    if tscale is None:
        return _lookup(T, P, symmetric, g, cnt)
    M, G, _ = T.shape
    # scale each group's lookup before summing: fold the scale into the table (one multiply
    # per lookup, counted as scale ops)
    Ts = T * tscale[:, :, None]
    cnt.add("scale_ops", M * G * P.shape[1])
    return _lookup(Ts, P, symmetric, g, cnt)


# ------------------------------------------------------------------------------ public
def lut_gemm(x: ArrayLike, w: Any, *, w_format: IntFormat | str = "int4", group_size: int = 4,
             sign_symmetry: bool = True, table_format: Any = None) -> LutResult:
    """x @ w with b-bit integer weights as b one-bit planes and activation lookup tables (T-MAC).

    Args:
        x: activations (M, K), float or integer values (used as given).
        w: weights (K, N): integer values of ``w_format`` (two's complement planes for signed
            formats: the top plane weighs −2^(b−1)), or a QArray of an IntFormat.
        w_format: an :class:`formats.IntFormat` or its name (ignored for QArrays).
        group_size: g, activations per table (T-MAC uses 4; LUT-GEMM's μ = 8).
        sign_symmetry: store 2^(g−1) entries of the ±1 form and negate (True), or 2^g.
        table_format: None (exact tables), a FloatFormat (entries rounded to it, e.g.
            ``"float16"``), or an IntFormat (per-table absmax scale, T-MAC-style int8 tables).

    Returns:
        :class:`LutResult` (output (M, N) — int64 for integer x and exact tables, else float64 —
        and :class:`LutCounts`). With integer x and exact tables the output equals the integer
        GEMM x @ w exactly.

    Raises:
        ValueError / TypeError: bad shapes, weights outside the format, bad options.
    """
    _check_group(group_size)
    if isinstance(w, QArray):
        fmt = w.format
        codes = np.asarray(w.codes).astype(np.int64)
    else:
        fmt = get(w_format)
        if not isinstance(fmt, IntFormat):
            raise ValueError(f"w_format must be an IntFormat, got {fmt}")
        wv = np.asarray(w)
        if wv.dtype.kind not in "iub":
            raise TypeError(f"w must hold integers (values of {fmt}), got dtype {wv.dtype}")
        wv = wv.astype(np.int64)
        if wv.size and (wv.min() < fmt.min or wv.max() > fmt.max):
            raise ValueError(f"w holds values outside {fmt} [{fmt.min}, {fmt.max}]")
        codes = wv & ((1 << fmt.bits) - 1)
    if not isinstance(fmt, IntFormat):
        raise ValueError(f"w must be a QArray of an IntFormat, got {fmt}")
    xv = _as_float_or_int(x, "x")
    M, K = xv.shape
    if codes.ndim != 2 or codes.shape[0] != K:
        raise ValueError(f"w must have shape (K={K}, N), got {codes.shape}")
    N = codes.shape[1]
    b, g = fmt.bits, group_size
    cnt = _Counter()
    xg = _groups(xv, g)
    T = _build_tables(xg, sign_symmetry, cnt)
    T, tscale = _quantize_tables(T, table_format, cnt)
    if sign_symmetry:
        # Σ x over each row once (exact integer / float64), for the {0,1} correction; with
        # per-table scales the correction uses the scaled group sums (−T[0] is Σ_group x)
        if tscale is None:
            row_sum = -T[:, :, 0].sum(axis=1)
        else:
            row_sum = -(T[:, :, 0] * tscale).sum(axis=1)
        cnt.add("row_sum_adds", M * max(xg.shape[1] - 1, 0))
    out = None
    for i in range(b):
        plane = (codes >> i) & 1
        P = _patterns(plane, g)
        s = _grouped_sum(T, P, sign_symmetry, g, cnt, tscale)
        if sign_symmetry:
            s2 = s + row_sum[:, None]  # = 2 Σ x q
            cnt.add("correction_adds", M * N)
            s = s2 // 2 if s2.dtype.kind == "i" else s2 / 2
        weight = -(1 << i) if (fmt.signed and i == b - 1) else (1 << i)
        term = s * weight
        cnt.add("scale_ops", M * N)
        if out is None:
            out = term
        else:
            out = out + term
            cnt.add("plane_adds", M * N)
    entries = (1 << (g - 1)) if sign_symmetry else (1 << g)
    assert out is not None  # b >= 1 planes
    return LutResult(out, _finish(cnt, M, K, N, b, g, entries))


def lut_gemm_bcq(x: ArrayLike, planes: ArrayLike, alphas: ArrayLike, *, group_size: int = 4,
                 sign_symmetry: bool = True, table_format: Any = None) -> LutResult:
    """x @ W with binary-coding quantized weights W = Σ_i α_i ∘ β_i, β_i ∈ {−1, +1} (LUT-GEMM).

    Args:
        x: activations (M, K).
        planes: β, shape (b, K, N), entries −1 or +1.
        alphas: α, shape (b, N) (per output column) or (b, Q, N) (per column and per group of
            K/Q consecutive rows; K/Q must be a multiple of ``group_size``) — LUT-GEMM's
            group-wise scales.
        group_size, sign_symmetry, table_format: as :func:`lut_gemm`.

    Returns:
        :class:`LutResult`; the output equals x @ W up to float64 rounding of the α products
        (exactly, for dyadic α and integer x).

    Raises:
        ValueError: bad shapes or plane values.
    """
    _check_group(group_size)
    xv = _as_float_or_int(x, "x")
    M, K = xv.shape
    B = np.asarray(planes)
    if B.ndim != 3 or B.shape[1] != K:
        raise ValueError(f"planes must have shape (b, K={K}, N), got {B.shape}")
    if not np.all((B == 1) | (B == -1)):
        raise ValueError("planes must hold only -1 and +1")
    b, _, N = B.shape
    A = np.asarray(alphas, dtype=np.float64)
    if A.ndim == 2:
        A = A[:, None, :]
    if A.ndim != 3 or A.shape[0] != b or A.shape[2] != N:
        raise ValueError(f"alphas must have shape (b={b}, N={N}) or (b, Q, N), got {np.shape(alphas)}")
    Q = A.shape[1]
    g = group_size
    if K % Q or (K // Q) % g:
        raise ValueError(f"K={K} must split into {Q} scale groups that are multiples of group_size={g}")
    rows_q = K // Q
    cnt = _Counter()
    xg = _groups(xv, g)
    T = _build_tables(xg, sign_symmetry, cnt)
    T, tscale = _quantize_tables(T, table_format, cnt)
    bits01 = (B > 0).astype(np.int64)  # +1 ↔ bit 1
    out = np.zeros((M, N), dtype=np.float64)
    gpq = rows_q // g  # table groups per scale group
    first = True
    for i in range(b):
        P = _patterns(bits01[i], g)  # (G, N)
        for q in range(Q):
            Tq = T[:, q * gpq:(q + 1) * gpq]
            Pq = P[q * gpq:(q + 1) * gpq]
            ts = None if tscale is None else tscale[:, q * gpq:(q + 1) * gpq]
            if sign_symmetry:
                s = _grouped_sum(Tq, Pq, True, g, cnt, ts)  # the ±1 form is the table itself
            else:
                # {0,1} tables: Σ x s = 2 Σ x q − Σ x
                s01 = _grouped_sum(Tq, Pq, False, g, cnt, ts)
                gs = Tq[:, :, -1] if ts is None else Tq[:, :, -1] * ts
                s = 2 * s01 - gs.sum(axis=1)[:, None]
                cnt.add("correction_adds", M * N)
            out = out + s * A[i, q][None, :]
            cnt.add("scale_ops", M * N)
            if not first:
                cnt.add("plane_adds", M * N)
            first = False
    entries = (1 << (g - 1)) if sign_symmetry else (1 << g)
    assert out is not None  # b >= 1 planes
    return LutResult(out, _finish(cnt, M, K, N, b, g, entries))


def lut_gemm_codebook(x: ArrayLike, indices: ArrayLike, codebook: ArrayLike, *, table_format: Any = None) -> LutResult:
    """x @ W with W built from a codebook of g-dimensional vectors (vector / scalar codebooks).

    For every activation row and group of g activations a table holds the dot product of the
    group with every codeword (C entries, g multiplies each); each weight index is one lookup.

    Args:
        x: activations (M, K).
        indices: codeword index per group of g rows and column, shape (⌈K/g⌉, N), ints in [0, C).
        codebook: (C, g) codewords (g = 1: a scalar codebook such as NF4's 16 values).
        table_format: as :func:`lut_gemm`.

    Returns:
        :class:`LutResult`; the output equals x @ W, W[g·G + t, n] = codebook[indices[G, n], t]
        (up to float64 rounding; exactly for integer x and integer codebooks).
    """
    xv = _as_float_or_int(x, "x")
    M, K = xv.shape
    cb = np.asarray(codebook)
    if cb.ndim == 1:
        cb = cb[:, None]
    if cb.ndim != 2:
        raise ValueError(f"codebook must be (C, g), got shape {np.shape(codebook)}")
    C, g = cb.shape
    cb = cb.astype(np.int64) if (cb.dtype.kind in "iu" and xv.dtype.kind == "i") else cb.astype(np.float64)
    idx = np.asarray(indices)
    G = -(-K // g)
    if idx.ndim != 2 or idx.shape[0] != G:
        raise ValueError(f"indices must have shape (ceil(K/g)={G}, N), got {idx.shape}")
    if idx.dtype.kind not in "iu" or (idx.size and (idx.min() < 0 or idx.max() >= C)):
        raise ValueError(f"indices must be integers in [0, {C})")
    N = idx.shape[1]
    cnt = _Counter()
    xg = _groups(xv, g)  # (M, G, g)
    T = np.einsum("mgt,ct->mgc", xg, cb)
    cnt.add("table_muls", M * G * C * g)
    cnt.add("table_adds", M * G * C * (g - 1))
    T, tscale = _quantize_tables(T, table_format, cnt)
    if tscale is not None:
        T = T * tscale[:, :, None]
        cnt.add("scale_ops", M * G * N)
    gi = np.arange(G)[:, None]
    vals = T[:, gi, idx.astype(np.int64)]
    cnt.add("lookups", M * G * N)
    cnt.add("accumulate_adds", M * N * max(G - 1, 0))
    out = vals.sum(axis=1)
    return LutResult(out, _finish(cnt, M, K, N, 1, g, C))


def lut_gemm_counts(m: int, k: int, n: int, *, bits: int, group_size: int = 4, sign_symmetry: bool = True,
                    kind: str = "planes", codebook_size: int | None = None, scale_groups: int = 1,
                    table_scales: bool = False) -> LutCounts:
    """The operation counts of :func:`lut_gemm` (``kind="planes"``), :func:`lut_gemm_bcq`
    (``"bcq"``) or :func:`lut_gemm_codebook` (``"codebook"``, ``group_size`` = codeword length)
    from the shapes alone. ``negations`` assumes half the patterns have the top bit set.

    Raises:
        ValueError: bad kind or sizes.
    """
    for name, v in (("m", m), ("k", k), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    _check_group(group_size)
    g = group_size
    G = -(-k // g)
    tables = m * G
    d = dict(table_adds=0, table_muls=0, table_shifts=0, table_negations=0, lookups=0, negations=0,
             accumulate_adds=0, correction_adds=0, row_sum_adds=0, plane_adds=0, scale_ops=0)
    if kind == "codebook":
        C = codebook_size
        if C is None or C < 1:
            raise ValueError("kind='codebook' needs codebook_size")
        d.update(table_muls=tables * C * g, table_adds=tables * C * (g - 1), lookups=m * G * n,
                 accumulate_adds=m * n * max(G - 1, 0), scale_ops=m * G * n if table_scales else 0)
        return LutCounts(m=m, k=k, n=n, bits=1, group_size=g, groups=G, entries_per_table=C,
                         tables=tables, **d)
    if kind not in ("planes", "bcq"):
        raise ValueError(f"kind must be one of ('planes', 'bcq', 'codebook'), got {kind!r}")
    if sign_symmetry:
        entries = 1 << (g - 1)
        d["table_adds"] = tables * ((g - 1) + entries - 1)
        d["table_negations"] = tables
        d["table_shifts"] = tables * (g - 1)
    else:
        entries = 1 << g
        d["table_adds"] = tables * (entries - 1 - g)
    Qs = scale_groups if kind == "bcq" else 1
    d["lookups"] = m * G * n * bits
    d["negations"] = d["lookups"] // 2 if sign_symmetry else 0
    per_lookup_scale = m * G * n * bits if table_scales else 0
    if kind == "planes":
        d["accumulate_adds"] = m * n * max(G - 1, 0) * bits
        d["correction_adds"] = m * n * bits if sign_symmetry else 0
        d["row_sum_adds"] = m * max(G - 1, 0) if sign_symmetry else 0
        d["plane_adds"] = m * n * (bits - 1)
        d["scale_ops"] = m * n * bits + per_lookup_scale
    else:
        gq = G // Qs
        d["accumulate_adds"] = m * n * max(gq - 1, 0) * bits * Qs
        d["correction_adds"] = 0 if sign_symmetry else m * n * bits * Qs
        d["plane_adds"] = m * n * (bits * Qs - 1)
        d["scale_ops"] = m * n * bits * Qs + per_lookup_scale
    return LutCounts(m=m, k=k, n=n, bits=bits, group_size=g, groups=G, entries_per_table=entries,
                     tables=tables, **d)

