"""Mapping a GEMM onto a memory hierarchy: loop blocking between DRAM and on-chip buffers.

A GEMM (m×k)@(k×n) runs as a nest of three loops over on-chip **tiles** of ``tile_m ×
tile_k × tile_n``; the loop ``order`` (outermost first, e.g. ``"mnk"``) and the tile sizes are
the mapping. Each operand has one loop that does not index it — its **reuse loop** (``a``: the
n loop, ``b``: the m loop, ``c``: the k loop). An operand is fetched from DRAM once per
iteration of its reuse loop, unless everything of it touched in one iteration of that loop — its
**footprint** (its tile, widened to the full extent of every inner loop that indexes it) — stays
in its buffer; then it is fetched once (it is *resident*). For ``c`` a refetch is a partial-sum
spill: written out and read back at accumulator width, the last write at output width. This is
the classical loop-blocking analysis (e.g. Timeloop's and ZigZag's temporal-reuse rule, with
one level of tiles), in closed form per mapping.

The search evaluates, for every loop order, a handful of tile candidates derived from the
buffer capacities — the largest tiles that keep a given operand resident, the largest tiles that
make the innermost-stationary operand's tile as big as it can be, and the tile that balances
the refetches of the two streamed operands (``t1 = sqrt(P·B/A)`` for ``A/t2 + B/t1`` under
``t1·t2 ≤ P``) — with capacities taken whole (single-buffered) or halved (double-buffered), and
keeps the best by the objective: ``"time"`` (the least energy among the mappings within 1 %
of the fewest cycles) or ``"energy"`` (the least energy, then the fewest cycles).
An operand whose footprint fits half of its buffer is double-buffered (its transfers overlap
compute); one that needs more than half is loaded while the compute waits. All of it is
vectorised over shapes (``numpy`` arrays of shape (shapes, candidates)).

Machines supply what depends on their array: the tile units (a systolic array's rows and
columns), compute cycles and SRAM accesses of a mapping (callbacks), and the energies.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

__all__ = ["Mapping", "ORDERS", "OBJECTIVES", "search"]

#: loop orders, outermost first
ORDERS = ("mnk", "nmk", "mkn", "kmn", "nkm", "knm")
OBJECTIVES = ("time", "energy")
#: with the ``"time"`` objective, mappings within this fraction of the fewest cycles count as
#: equally fast, and the one with the least energy among them is chosen
TIME_TOLERANCE = 0.01
_DIMS = "mkn"
#: operand -> (its dims, its reuse dim)
_OPERANDS = {"a": ("mk", "n"), "b": ("kn", "m"), "c": ("mn", "k")}


@dataclasses.dataclass(frozen=True)
class Mapping:
    """How a GEMM is laid out: loop order and tiles between DRAM and the on-chip buffers.

    Attributes:
        order: the three tile loops, outermost first (``"mnk"``: m outer, k innermost).
        tile_m, tile_k, tile_n: the on-chip tile, elements.
        resident: operands kept on chip across their reuse loop (fetched from DRAM once).
        double_buffered: operands whose DRAM transfers overlap compute (footprint ≤ half of
            their buffer); the others are loaded while the compute waits.
        objective: what the search minimised (``"time"`` or ``"energy"``).
    """

    order: str
    tile_m: int
    tile_k: int
    tile_n: int
    resident: tuple = ()
    double_buffered: tuple = ()
    objective: str = "time"

    def __post_init__(self):
        from .._validate import check_fields

        check_fields(self)  # tiles integers >= 1, fields of their types
        if sorted(self.order) != ["k", "m", "n"]:
            raise ValueError(f"order must be a permutation of 'mkn', got {self.order!r}")
        for f in ("resident", "double_buffered"):
            if not set(getattr(self, f)) <= {"a", "b", "c"}:
                raise ValueError(f"{f} must hold operand names 'a', 'b', 'c', got {getattr(self, f)!r}")
        check_objective(self.objective, "objective")

    @classmethod
    def _trusted(cls, *values) -> Mapping:
        """A mapping from values the search produced (no checks: the hot path)."""
        self = object.__new__(cls)
        for f, v in zip(("order", "tile_m", "tile_k", "tile_n", "resident", "double_buffered",
                         "objective"), values, strict=True):
            object.__setattr__(self, f, v)
        return self

    def __str__(self) -> str:
        res = ",".join(self.resident) or "none"
        db = ",".join(self.double_buffered) or "none"
        return (f"order {self.order} (outermost first), tile {self.tile_m}x{self.tile_k}x"
                f"{self.tile_n} (m x k x n), resident: {res}, double-buffered: {db}")


# ------------------------------------------------------------------ static index tables
_OPD = np.array([[0, 1], [1, 2], [0, 2]])        # dims of a (m, k), b (k, n), c (m, n)
_REUSE = np.array([2, 0, 1])                      # reuse dim of a (n), b (m), c (k)
_POS = np.array([[o.index(d) for d in _DIMS] for o in ORDERS])          # (6, 3): loop depth
_DORD = np.array([[_DIMS.index(d) for d in o] for o in ORDERS])          # (6, 3): d1, d2, d3
# operand without d3 (stationary over the inner loop), without d2, without d1
_SX = np.array([[next(i for i in range(3) if _DORD[o, j] not in _OPD[i]) for j in (2, 1, 0)]
                for o in range(6)])
#: (6, 3, 2): whether each dim of each operand is inside the operand's reuse loop
_INNER = _POS[:, _OPD] > _POS[np.arange(6)[:, None], _REUSE][:, :, None]
_INV = np.argsort(_DORD, axis=1)                  # (6, 3): position of m, k, n in the order
_KINDS = 6                                        # tile candidates per (order, capacity)
_PARTS = np.array([(1 / 3, 1 / 3, 1 / 3), (0.5, 0.25, 0.25), (0.25, 0.5, 0.25),
                   (0.25, 0.25, 0.5), (0.125, 0.75, 0.125)])


def _tables(V: int, T3: int):
    """Per candidate column: order index and capacity-variant index (orders × V × T3
    inner-tile choices × kinds, then one fallback column)."""
    o = np.repeat(np.arange(6), V * T3 * _KINDS)
    v = np.tile(np.repeat(np.arange(V), T3 * _KINDS), 6)
    return np.append(o, 0), np.append(v, 0)


@functools.lru_cache(maxsize=1024)
def _static(caps, shared, e, units, lows) -> dict:
    """Everything of a search that depends on the machine and formats, not on the shape."""
    e = np.array(e)
    U = np.array(units)
    Lo = np.maximum(U, np.array(lows))
    cap0 = np.array(caps)
    if shared:   # one buffer: a few partitions among the operands
        capv = cap0[0] * _PARTS
    else:        # separate buffers: whole; halved (all double-buffered); or the operand
        capv = np.stack([cap0, cap0 / 2, cap0 / 2])   # stationary over the inner loop whole
    V = capv.shape[0]
    # the innermost loop's tile: smallest (separate buffers: the others are what a mapping
    # trades), or also as large as fits (one shared buffer: it sets the split)
    T3 = 2 if shared else 1
    o_col, v_col = _tables(V, T3)
    oj = np.repeat(np.arange(6), V)
    vj = np.tile(np.arange(V), 6)
    # capacity of each operand per (order, variant): (J, 3) by operand a, b, c
    capo = capv[vj].copy()
    if not shared:
        mixed = vj == 2
        capo[mixed, _SX[oj[mixed], 0]] = cap0[_SX[oj[mixed], 0]]
    capj = np.take_along_axis(capo, _SX[oj], axis=1)  # (J, 3): capacity of S, X2, X1
    ej = e[_SX[oj]]                                   # (J, 3)
    Lj = Lo[_DORD[oj]]                                # (J, 3)
    P = capj[:, 0] / ej[:, 0]
    # T123 (S, J, T3, kinds, 3) flattened per shape -> (m, k, n) of each candidate
    J = oj.size
    base = (np.arange(J * T3 * _KINDS) * 3)[:, None]
    inv_flat = (base + _INV[o_col[:-1]]).ravel()
    # per candidate column: what it may keep resident (its partition of a shared buffer; of
    # separate buffers its variant's capacities), and what its tiles must fit (half of which
    # double-buffers)
    jcol = np.append(np.repeat(np.arange(J), T3 * _KINDS), 0)
    return {
        "U": U, "cap0": cap0, "o_col": o_col, "dord": _DORD[oj],
        "capK": capo[jcol], "capReal": capo[jcol] if shared else cap0,
        "inner": _INNER[o_col][None], "e": e, "P": P,
        "c1_e1": capj[:, 2] / ej[:, 2], "c2_e2": capj[:, 1] / ej[:, 1],
        "e1_e2": ej[:, 2] / ej[:, 1],
        "L1": Lj[:, 0], "L2": Lj[:, 1], "L3": Lj[:, 2], "inv_flat": inv_flat, "T3": T3,
    }


def search(m, k, n, *, ea, eb, ep, eo, a_elems, caps, shared, units, lows, compute_fn,
           sram_fn, bw, clock_hz, e_dram_byte, e_fill_byte, static_w, objective="time"):
    """Best mapping of (m×k)@(k×n) for each shape (vectorised).

    Args:
        m, k, n: integer arrays of shape (S,) (or ints).
        ea, eb: bytes per element of a and b in memory; ep: of a partial sum (accumulator);
            eo: of an output element (written to DRAM once, at the end).
        a_elems: distinct elements of a in DRAM (m·k, or a convolution's unique input).
        caps: (a, b, c) buffer capacities, bytes; ``shared``: one buffer of ``caps[0]`` bytes
            holding all three (partitioned by the search).
        units: (m, k, n) smallest tile per dim (the array's extent along it, or 1).
        lows: (m, k, n) smallest *efficient* tile per dim (e.g. the rows a weight-stationary
            array needs to hide a weight load), at least the unit.
        compute_fn(M, K, N, tm, tk, tn) -> compute cycles (arrays).
        sram_fn(M, K, N, tm, tk, tn) -> SRAM access energy, pJ (arrays).
        bw: DRAM bandwidth, bytes/cycle: None (unlimited), a number (one interface), or an
            (a, b, c) triple of per-interface bandwidths.
        clock_hz: clock, for static energy. e_dram_byte: DRAM energy per byte, pJ.
        e_fill_byte: (a, b, c) energy per byte of writing DRAM data into (or reading spills
            out of) each buffer, pJ. static_w: static power, W.
        objective: ``"time"`` or ``"energy"``.

    Returns:
        dict of arrays (S,): ``order`` (index into :data:`ORDERS`), ``tm``, ``tk``, ``tn``,
        ``compute``, ``cycles``, ``dram_cycles`` (the DRAM interface's busy cycles),
        ``a_dram``, ``b_dram``, ``c_dram`` (bytes: c = writes + spill reads), ``c_spill``
        (bytes of partial sums written out, each also read back), ``ret_a``/``ret_b``/``ret_c``,
        ``db_a``/``db_b``/``db_c`` (bools), ``sram_pj``, ``dram_pj``, ``fill_pj``.
    """
    dims = np.empty((np.size(m), 3))
    dims[:, 0], dims[:, 1], dims[:, 2] = m, k, n
    S = dims.shape[0]
    A_el = np.asarray(a_elems, dtype=np.float64).reshape(-1)
    e = (float(ea), float(eb), float(ep))
    tb = _static(tuple(float(c) for c in caps), bool(shared), e,
                 tuple(float(u) for u in units), tuple(float(x) for x in lows))
    U, cap0, capK, o_col, inner = tb["U"], tb["cap0"], tb["capK"], tb["o_col"], tb["inner"]
    e = tb["e"]
    # ---------------------------------------------- candidates, per (order, capacity variant)
    Dj = dims[:, tb["dord"]]                                      # (S, J, 3): D1, D2, D3
    D1, D2, D3 = Dj[..., 0], Dj[..., 1], Dj[..., 2]
    P, L1, L2 = tb["P"], tb["L1"], tb["L2"]
    t3 = np.minimum(D3, tb["L3"])
    x1_whole = D2 * D3 <= tb["c1_e1"]
    lim2 = np.where(x1_whole, D2, tb["c1_e1"] / t3)
    lim1 = np.minimum(D1, tb["c2_e2"] / t3)
    lo1 = np.minimum(D1, L1)
    lo2 = np.minimum(D2, L2)
    t1 = np.empty(D1.shape + (_KINDS,))
    t2 = np.empty(D1.shape + (_KINDS,))
    t1[..., 0] = np.clip(tb["c2_e2"] / D3, 1.0, D1)
    t1[..., 1] = lo1
    t1[..., 2] = np.minimum(P / lo2, lim1)
    # balance the refetches of X2 (∝ D2/t2) and X1 (∝ D1/t1) under t1·t2 ≤ P (also when X1
    # would fit whole: streaming it instead frees its buffer half for double buffering)
    t1[..., 3] = np.clip(np.sqrt(P * tb["e1_e2"]), lo1, np.maximum(lo1, lim1))
    t1[..., 4] = np.minimum(P / D2, lim1)
    t1[..., 5] = D1
    t2[...] = np.minimum(np.minimum(D2, lim2)[..., None], P[:, None] / t1)
    t2[..., 2] = lo2
    t2[..., 4] = D2
    # the innermost loop's tile: as large as the two streamed operands' tiles allow (it does
    # not change DRAM traffic; a longer run amortises array fills and partial-sum updates)
    T123 = np.empty(D1.shape + (tb["T3"], _KINDS, 3))  # t3 smallest, or as large as fits
    T123[..., 0] = t1[..., None, :]
    T123[..., 1] = t2[..., None, :]
    T123[..., 0, :, 2] = t3[..., None]
    if tb["T3"] == 2:
        t3x = np.minimum(tb["c2_e2"][:, None] / t1,
                         np.where(x1_whole[..., None], np.inf, tb["c1_e1"][:, None] / t2))
        T123[..., 1, :, 2] = np.clip(t3x, t3[..., None], D3[..., None])
    T = np.empty((S, o_col.size, 3))
    T[:, :-1, :] = T123.reshape(S, -1)[:, tb["inv_flat"]].reshape(S, -1, 3)
    T[:, -1, :] = np.minimum(dims, U)                             # the array's own tile
    Dd = dims[:, None, :]
    # a whole dimension stays whole; a part of one is a multiple of the array's extent
    T = np.where(T >= Dd, Dd, np.minimum(np.maximum(np.floor(T / U) * U, U), Dd))
    T = np.maximum(T, 1.0)
    # -------------------------------------------------------------- evaluate every candidate
    Tsel = T[:, :, _OPD]                                          # (S, K, 3, 2)
    tile = Tsel[..., 0] * Tsel[..., 1] * e                        # tile bytes (S, K, 3)
    wide = np.where(inner, dims[:, _OPD][:, None], Tsel)          # footprint extents
    fp_full = wide[..., 0] * wide[..., 1] * e
    capReal = tb["capReal"]
    ret = fp_full <= capK
    fp = np.where(ret, fp_full, tile)
    fits = tile <= capReal
    feasible = fits[..., 0] & fits[..., 1] & fits[..., 2]
    if shared:
        feasible &= (tile[..., 0] + tile[..., 1] + tile[..., 2]) <= cap0[0]
    feasible[:, -1] = True  # the array's own tile: always possible (the fallback)
    db = fp <= capReal / 2
    trips = np.ceil(Dd / T)                                       # (S, K, 3)
    refetch = np.where(ret, 1.0, trips[:, :, _REUSE])
    M, K, N = dims[:, 0:1], dims[:, 1:2], dims[:, 2:3]
    a_dram = (A_el * ea)[:, None] * refetch[..., 0]
    b_dram = (K * N * eb) * refetch[..., 1]
    c_spill = (M * N * ep) * (refetch[..., 2] - 1.0)
    c_dram = M * N * eo + 2.0 * c_spill
    traffic = np.stack([a_dram, b_dram, c_dram], -1)              # (S, K, 3)
    tm, tk, tn = T[..., 0], T[..., 1], T[..., 2]
    u = np.minimum(dims, U)                                       # the array's own block
    ua, ub = u[:, 0:1] * u[:, 1:2] * ea, u[:, 1:2] * u[:, 2:3] * eb
    uc = u[:, 0:1] * u[:, 2:3] * eo
    compute = compute_fn(M, K, N, tm, tk, tn)
    if bw is None:
        dram_cycles = np.zeros_like(compute)
        cycles = compute
    else:
        bwv = np.asarray(bw if isinstance(bw, tuple) else (bw, bw, bw), dtype=np.float64)
        per = traffic / bwv
        if isinstance(bw, tuple):   # separate interfaces run in parallel
            dram_cycles = np.maximum(np.maximum(per[..., 0], per[..., 1]), per[..., 2])
            ov = np.where(db, per, 0.0)
            overlap = np.maximum(np.maximum(ov[..., 0], ov[..., 1]), ov[..., 2])
            first = np.maximum(ua / bwv[0], ub / bwv[1])
        else:
            dram_cycles = per[..., 0] + per[..., 1] + per[..., 2]
            ov = np.where(db, per, 0.0)
            overlap = ov[..., 0] + ov[..., 1] + ov[..., 2]
            first = (ua + ub) / bwv[0]
        sr = np.where(db, 0.0, per)
        serial = sr[..., 0] + sr[..., 1] + sr[..., 2]
        # double-buffered streams start once the array's first block has arrived, and end with
        # the write of its last output block
        prologue = np.where(db[..., 0] | db[..., 1], first, 0.0)
        epilogue = np.where(db[..., 2], np.minimum(uc / bwv[2], per[..., 2]), 0.0)
        cycles = serial + np.maximum(compute, overlap) + prologue + epilogue
    sram_pj = sram_fn(M, K, N, tm, tk, tn)
    fill_pj = a_dram * e_fill_byte[0] + b_dram * e_fill_byte[1] + c_dram * e_fill_byte[2]
    dram_pj = (a_dram + b_dram + c_dram) * e_dram_byte
    energy = sram_pj + fill_pj + dram_pj + (static_w * 1e12 / clock_hz) * cycles
    if objective == "energy":
        key1, key2, tol = np.where(feasible, energy, np.inf), cycles, 1e-9
    else:
        key1, key2, tol = np.where(feasible, cycles, np.inf), energy, TIME_TOLERANCE
    tie = key1 <= key1.min(axis=1, keepdims=True) * (1 + tol)
    i = np.argmin(np.where(tie, key2, np.inf), axis=1)
    if S == 1:  # one shape (the scalar gemm): plain indexing is several times cheaper
        j = int(i[0])
        i = r = None

        def pick(x):
            return x[0, j:j + 1]

        sub = (0, slice(j, j + 1))
        tm, tk, tn, a_dram, dram_pj, fill_pj = (x[sub] for x in (tm, tk, tn, a_dram, dram_pj,
                                                                  fill_pj))
        ret_, db_ = ret[0, j], db[0, j]
        return {
            "order": o_col[j:j + 1], "tm": tm, "tk": tk, "tn": tn,
            "compute": pick(compute), "cycles": pick(cycles), "dram_cycles": pick(dram_cycles),
            "a_dram": a_dram, "b_dram": pick(b_dram), "c_dram": pick(c_dram),
            "c_spill": pick(c_spill),
            "ret_a": ret_[0:1], "ret_b": ret_[1:2], "ret_c": ret_[2:3],
            "db_a": db_[0:1], "db_b": db_[1:2], "db_c": db_[2:3],
            "sram_pj": pick(sram_pj), "dram_pj": dram_pj, "fill_pj": fill_pj,
        }
    r = np.arange(S)

    def pick(x):
        return x[r, i] if x.shape[0] == S else x[0, i]

    return {
        "order": o_col[i], "tm": tm[r, i], "tk": tk[r, i], "tn": tn[r, i],
        "compute": pick(compute), "cycles": pick(cycles), "dram_cycles": pick(dram_cycles),
        "a_dram": a_dram[r, i], "b_dram": pick(b_dram), "c_dram": pick(c_dram),
        "c_spill": pick(c_spill),
        "ret_a": ret[r, i, 0], "ret_b": ret[r, i, 1], "ret_c": ret[r, i, 2],
        "db_a": db[r, i, 0], "db_b": db[r, i, 1], "db_c": db[r, i, 2],
        "sram_pj": pick(sram_pj), "dram_pj": dram_pj[r, i], "fill_pj": fill_pj[r, i],
    }


def mapping_of(res, i: int, objective: str) -> Mapping:
    """The :class:`Mapping` record of shape ``i`` of a :func:`search` result."""
    resident = tuple(x for x in "abc" if bool(res[f"ret_{x}"][i]))
    db = tuple(x for x in "abc" if bool(res[f"db_{x}"][i]))
    return Mapping._trusted(ORDERS[int(res["order"][i])], int(res["tm"][i]), int(res["tk"][i]),
                            int(res["tn"][i]), resident, db, objective)


def check_objective(objective: str, param: str = "mapping_objective") -> None:
    if objective not in OBJECTIVES:
        raise ValueError(f"{param} must be one of {OBJECTIVES}, got {objective!r}")


