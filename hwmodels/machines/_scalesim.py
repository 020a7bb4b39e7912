"""SCALE-Sim 3.0.0's memory model for GEMMs, in closed form where it has one.

``SystolicArray(..., memory_model="scalesim")`` reproduces what SCALE-Sim 3.0.0 (Samajdar et
al., ISPASS 2020; ``pip install scalesim==3.0.0``) reports for a GEMM layer: DRAM reads of the
ifmap (``a``) and filter (``b``), DRAM writes of the ofmap (``c``, partial sums included), and
stall cycles with per-interface bandwidths. The rules are SCALE-Sim's, as written down (with
file and function) in ``tests/fixtures/scalesim/MEMORY_MODEL.md``:

* one word per element for every operand, partial sums included; each SRAM is half active,
  half prefetch/drain; E = the buffer size in words;
* **CALC mode** (no bandwidth given): a read buffer counts the demanded addresses that are not
  among the distinct addresses seen since its window last reset, the window resetting every
  W = 50·⌊E/100⌋ distinct addresses. The demand streams are regular, which gives closed forms:
  an operand streamed P times in the same order is read once if it has fewer than W distinct
  addresses, P times otherwise (WS ifmap, OS ifmap, IS filter); a tile repeated back to back
  (OS filter) is re-read only for the part demanded before a reset that fell inside it
  (:func:`calc_reads`);
* ofmap writes: every write request — m·n·⌈k/R⌉ for WS/IS (a partial sum per row fold), m·n
  for OS — never read back (SCALE-Sim models no partial-sum reads);
* **USER mode** (bandwidths given): a read buffer holds a window of lines of the operand's
  *prefetch order* and advances it by the prefetch half each time a demanded address is not in
  it; data demanded after the window has moved past it costs a trip round the whole ring. The
  window is followed exactly on a line-level stream of the demand (:func:`user_reads`), and
  the stall of each array row is SCALE-Sim's: each prefetch takes ⌈P/bw⌉ + 1 DRAM cycles back
  to back, a late prefetch delays the row by twice its lateness (as SCALE-Sim counts it), and a
  stall in any operand stops the array. The ofmap write buffer stalls when writes outpace its
  drain: modelled as its interface bound (writes beyond the buffer / bandwidth).

Accuracy (``tests/hwmodels/test_scalesim_compat.py`` against SCALE-Sim runs): DRAM reads and
writes equal SCALE-Sim's on the CALC fixtures up to the ofmap drain padding (≤ 0.4 %), USER
reads are exact, and USER total cycles are within 10 %.
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["calc_reads", "ofmap_writes", "user_reads", "user_cycles", "calc_window"]


def calc_window(words: int) -> int:
    """W: distinct addresses after which a CALC-mode read buffer of ``words`` resets."""
    return 50 * (words // 100)


def _cyclic(size: int, passes: int, W: int) -> int:
    """Reads of an operand of ``size`` distinct addresses streamed ``passes`` times in the same
    order through a CALC window of W: once if it never fills the window, else every pass."""
    return size if (passes <= 1 or size < W) else size * passes


def _repeated_tiles(sizes, reps: int, W: int) -> int:
    """Reads of disjoint tiles, each demanded ``reps`` times back to back (OS filter)."""
    total, f = 0, 0
    for s in sizes:
        total += s
        if f + s < W:
            f += s
            continue
        rem = s - (W - f)                 # misses after the first reset inside this tile
        f_end = rem % W if W > 0 else 0   # fill of the window at the end of the tile
        if reps > 1:
            if s < W:
                total += s - f_end        # the part before the reset, demanded again
                f = s
            else:                         # a tile larger than the window misses every time
                total += (reps - 1) * s
                f = (f_end + (reps - 1) * s) % W
        else:
            f = f_end
    return total


def calc_reads(R: int, C: int, dataflow: str, m: int, k: int, n: int, a_words: int,
               b_words: int) -> tuple[int, int]:
    """(ifmap, filter) DRAM reads in CALC mode, words, for buffers of ``a_words``/``b_words``."""
    Wa, Wb = calc_window(a_words), calc_window(b_words)
    if dataflow == "ws":
        return _cyclic(m * k, -(-n // C), Wa), k * n
    if dataflow == "is":
        return m * k, _cyclic(k * n, -(-m // C), Wb)
    sizes = [k * min(C, n - j) for j in range(0, n, C)]
    return _cyclic(m * k, -(-n // C), Wa), _repeated_tiles(sizes, -(-m // R), Wb)


def ofmap_writes(R: int, C: int, dataflow: str, m: int, k: int, n: int) -> int:
    """Ofmap DRAM write requests (words): partial sums once per row fold in WS/IS."""
    return m * n if dataflow == "os" else m * n * -(-k // R)


# ------------------------------------------------------------------------- USER mode
def _rollout_rank(mat: np.ndarray, diagonal: bool, size: int, eps: int):
    """Line of each address (rank among valid entries of the prefetch order // eps), and the
    prefetch matrix's entry count N (padding included)."""
    rows, cols = mat.shape
    flat = mat.ravel()
    if diagonal:  # anti-diagonals, each from its lowest row up
        r, c = np.divmod(np.arange(flat.size), cols)
        order = np.lexsort((-r, r + c))
        flat = flat[order]
    valid = flat[flat >= 0]
    line = np.empty(size, dtype=np.int64)
    line[valid] = np.arange(valid.size) // eps
    return line, mat.size, valid.size // eps + 1


def _stack(blocks_fn, count, h, w):
    out = np.full((count * h, w), -1, dtype=np.int64)
    for j in range(count):
        blk = blocks_fn(j)
        out[j * h: j * h + blk.shape[0], : blk.shape[1]] = blk
    return out


def _prefetch_lines(R, C, df, m, k, n, eps_a, eps_b):
    """(line of each a address, N_a, L_a), (line of each b address, N_b, L_b)."""
    A = np.arange(m * k, dtype=np.int64).reshape(m, k)            # a[i][j] = i·k + j
    B = (np.arange(n, dtype=np.int64)[None, :] * k + np.arange(k, dtype=np.int64)[:, None])
    if df == "ws":
        pa = _stack(lambda j: A[:, j * R:(j + 1) * R], -(-k // R), m, R)
        pb = _stack(lambda j: B[:, j * C:(j + 1) * C], -(-n // C), k, C)
        return _rollout_rank(pa, True, m * k, eps_a), _rollout_rank(pb, False, k * n, eps_b)
    if df == "os":
        pa = _stack(lambda j: A.T[:, j * R:(j + 1) * R], -(-m // R), k, R)
        pb = _stack(lambda j: B[:, j * C:(j + 1) * C], -(-n // C), k, C)
        return _rollout_rank(pa, True, m * k, eps_a), _rollout_rank(pb, True, k * n, eps_b)
    pa = _stack(lambda j: A.T[:, j * C:(j + 1) * C], -(-m // C), k, C)
    pb = _stack(lambda j: B[j * R:(j + 1) * R, :].T, -(-k // R), n, R)
    return _rollout_rank(pa, False, m * k, eps_a), _rollout_rank(pb, True, k * n, eps_b)


def _skew_order(T, W):
    """(row, col) of the valid entries of skew(X) for X of T×W, in demand order (row-major
    over the skewed matrix: by r + c, then c), and each entry's row in the skewed matrix."""
    t, c = np.meshgrid(np.arange(T), np.arange(W), indexing="ij")
    t, c = t.ravel(), c.ravel()
    o = np.lexsort((c, t + c))
    return t[o], c[o], (t + c)[o]


def _demand(R, C, df, m, k, n):
    """Demand streams of a and b: (addresses, row of each request) over the whole layer, and
    the fold length. Folds in SCALE-Sim's order: column fold outer, row fold inner."""
    if df == "ws":
        Fc, Fr, fold = -(-n // C), -(-k // R), 2 * R + C + m - 2
    elif df == "os":
        Fc, Fr, fold = -(-n // C), -(-m // R), R + C + k - 2
    else:
        Fc, Fr, fold = -(-m // C), -(-k // R), 2 * R + C + n - 2
    a_parts, a_rows, b_parts, b_rows = [], [], [], []
    for fc in range(Fc):
        for fr in range(Fr):
            base = (fc * Fr + fr) * fold
            if df == "ws":
                Rw, Cw = min(R, k - fr * R), min(C, n - fc * C)
                t, c, row = _skew_order(m, Rw)
                a_parts.append(t * k + fr * R + c)
                a_rows.append(base + R + row)
                r, c2 = np.meshgrid(np.arange(R - Rw, R), np.arange(Cw), indexing="ij")
                b_parts.append((fc * C + c2.ravel()) * k + fr * R + (R - 1 - r.ravel()))
                b_rows.append(base + r.ravel())
            elif df == "os":
                Rw, Cw = min(R, m - fr * R), min(C, n - fc * C)
                t, c, row = _skew_order(k, Rw)
                a_parts.append((fr * R + c) * k + t)
                a_rows.append(base + row)
                t, c, row = _skew_order(k, Cw)
                b_parts.append((fc * C + c) * k + t)
                b_rows.append(base + row)
            else:
                Rw, Cw = min(R, k - fr * R), min(C, m - fc * C)
                r, c2 = np.meshgrid(np.arange(R - Rw, R), np.arange(Cw), indexing="ij")
                a_parts.append((fc * C + c2.ravel()) * k + fr * R + (R - 1 - r.ravel()))
                a_rows.append(base + r.ravel())
                t, c, row = _skew_order(n, Rw)
                b_parts.append(t * k + fr * R + c)
                b_rows.append(base + R + row)
    cat = np.concatenate
    return (cat(a_parts), cat(a_rows)), (cat(b_parts), cat(b_rows)), Fc * Fr * fold


def _window(lines: np.ndarray, L: int, NA: int, NP: int):
    """Follow the read buffer's window over a stream of line ids: (stream index, prefetches)
    of every miss (``read_buffer.service_reads``/``new_prefetch``)."""
    events = []
    if NA >= L or NP <= 0:
        return events
    start, pos, size = 0, 0, lines.size
    blk = 1024
    while pos < size:
        seg = lines[pos: pos + blk]
        out = ((seg - start) % L) >= NA
        if not out.any():
            pos += seg.size
            blk = min(blk * 2, 1 << 20)
            continue
        j = pos + int(np.argmax(out))
        # steps of NP lines until the line is inside the window again
        line = int(lines[j])
        q = 0
        while (line - start) % L >= NA:
            start = (start + NP) % L
            q += 1
        events.append((j, q))
        pos = j + 1
        blk = 1024
    return events


@functools.lru_cache(maxsize=64)
def user_reads(R: int, C: int, dataflow: str, m: int, k: int, n: int, a_words: int,
               b_words: int, bw_a: int, bw_b: int):
    """USER-mode reads: ((ifmap reads, filter reads), (a miss events, b miss events), compute
    cycles). Miss events are (array row, prefetches issued in that row) per operand.

    Exact SCALE-Sim 3.0.0 ``read_buffer`` arithmetic on a line-level stream of the demand.
    """
    (ad, ar), (bd, br), rows = _demand(R, C, dataflow, m, k, n)
    la, lb = _prefetch_lines(R, C, dataflow, m, k, n, math.ceil(a_words / 100),
                             math.ceil(b_words / 100))
    reads, evs = [], []
    for words, bw, dem, drow, (line_of, N, L) in ((a_words, bw_a, ad, ar, la),
                                                  (b_words, bw_b, bd, br, lb)):
        A = math.ceil(words * 0.5)
        P = words - A
        eps = math.ceil(words / 100)
        NA = min(math.ceil(A / eps), L)
        NP = min(math.ceil(P / eps), L - NA)
        events = _window(line_of[dem], L, NA, NP)
        nq = sum(q for _, q in events)
        reads.append(min(math.ceil(A / bw), math.ceil(N / bw)) * bw
                     + nq * math.ceil(P / bw) * bw)
        per_row: dict = {}
        for j, q in events:
            r = int(drow[j])
            per_row[r] = per_row.get(r, 0) + q
        evs.append((per_row, math.ceil(P / bw)))
    return tuple(reads), tuple(evs), rows


def _ofmap_rows(R, C, df, m, k, n):
    """Ofmap write requests per array row over the whole layer (int64 array of the layer's
    rows): every fold's ofmap demand matrix (``create_ofmap_demand_mat``) counted per row."""
    if df == "ws":
        Fc, Fr, fold, T, gap = -(-n // C), -(-k // R), 2 * R + C + m - 2, m, 2 * R - 1
        width = lambda fc, fr: min(C, n - fc * C)  # noqa: E731
        height = lambda fc, fr: T  # noqa: E731
    elif df == "os":
        Fc, Fr, fold, T, gap = -(-n // C), -(-m // R), R + C + k - 2, R, k - 1
        width = lambda fc, fr: min(C, n - fc * C)  # noqa: E731
        height = lambda fc, fr: min(R, m - fr * R)  # noqa: E731
    else:
        Fc, Fr, fold, T, gap = -(-m // C), -(-k // R), 2 * R + C + n - 2, n, 2 * R - 1
        width = lambda fc, fr: min(C, m - fc * C)  # noqa: E731
        height = lambda fc, fr: T  # noqa: E731
    counts = np.zeros(Fc * Fr * fold, dtype=np.int64)
    for fc in range(Fc):
        for fr in range(Fr):
            base = (fc * Fr + fr) * fold
            h, w = height(fc, fr), width(fc, fr)
            # os: the R×C block is flipped, so its h valid rows are the last h of R
            off = (R - h) if df == "os" else 0
            r = np.arange(h + w - 1)
            # entries (t, c), t < h, c < w, on skewed row t + c: a trapezoid
            cnt = np.minimum.reduce([r + 1, np.full_like(r, min(h, w)), h + w - 1 - r])
            counts[base + gap + off + r] += cnt
    return counts


class _WriteBuffer:
    """SCALE-Sim 3.0.0's ``write_buffer`` (MEMORY_MODEL.md §5), writes handled in runs."""

    def __init__(self, words: int, bw: int):
        self.total = words
        self.drain = words - math.ceil(words * 0.5)
        self.bw = bw
        self.free = words
        self.lines: list = []
        self.line_idx = 0
        self.start_line = 0
        self.drain_end = 0
        self.writes = 0

    def _store(self, w: int):
        self.free -= w
        full, self.line_idx = divmod(self.line_idx + w, self.bw)
        if full:
            self.lines.extend([self.bw] * full)

    def _drain_at(self, cycle: int) -> None:
        if self.line_idx:
            self.lines.append(self.line_idx)
            self.line_idx = 0
        want = math.ceil(self.drain / self.bw)
        end = min(self.start_line + want, len(self.lines))
        nl = end - self.start_line
        data = nl * self.bw - (self.bw - self.lines[end - 1])
        self.writes += data
        self.free += data
        self.start_line = end
        self.drain_end = cycle + nl - 1

    def row(self, cycle: int, count: int) -> int:
        """Service ``count`` writes issued at ``cycle``; the cycle they complete."""
        current = cycle
        while count > 0:
            if current < self.drain_end:
                take = min(count, max(self.free, 1))
                self._store(take)
                count -= take
                if self.free <= 0:
                    current = self.drain_end
            else:
                take = min(count, max(self.free - (self.total - self.drain) + 1, 1))
                self._store(take)
                count -= take
                if self.free < self.total - self.drain:
                    self._drain_at(current)
        return current

    def quiet_writes(self, cycle: int) -> int:
        """Writes that can be stored at ``cycle`` without a stall or a new drain."""
        if cycle < self.drain_end:
            return self.free - 1
        return self.free - (self.total - self.drain)

    def finish(self) -> int:
        """``empty_all_buffers``: DRAM writes in all."""
        if self.line_idx:
            self.lines.append(self.line_idx)
            self.line_idx = 0
        while self.start_line < len(self.lines):
            self._drain_at(0)
        return self.writes


def user_cycles(R, C, dataflow, m, k, n, words, bws):
    """(total cycles, stall cycles, (ifmap reads, filter reads, ofmap writes)) in USER mode.

    ``words``: (a, b, c) buffer sizes in words; ``bws``: (a, b, c) bandwidths, words/cycle.
    Replays ``double_buffered_scratchpad.service_memory_requests`` at the rows where something
    happens (a read miss, a drain starting, the write buffer filling); between them the
    state only accumulates writes.
    """
    (ra, rb), (ea, eb), rows = user_reads(R, C, dataflow, m, k, n, words[0], words[1],
                                          bws[0], bws[1])
    wcount = _ofmap_rows(R, C, dataflow, m, k, n)
    cum = np.concatenate([[0], np.cumsum(wcount)])
    reads = sorted(set(ea[0]) | set(eb[0]))
    wb = _WriteBuffer(int(words[2]), int(bws[2]))
    last = [-1, -1]  # each read interface's DRAM clock: the end of its previous prefetch
    stall, out_max, i, ri = 0, 0, 0, 0
    nrows = wcount.size
    while i < nrows:
        # rows i .. j-1 store their writes quietly (no read miss, no drain, no stall)
        nxt_read = reads[ri] if ri < len(reads) else nrows
        quiet = wb.quiet_writes(i + stall)
        j = int(np.searchsorted(cum, cum[i] + quiet, side="right")) - 2
        if wb.drain_end > i + stall:
            j = min(j, wb.drain_end - stall)
        j = max(min(j, nxt_read, nrows), i)
        if j > i:
            wb._store(int(cum[j] - cum[i]))
            out_max = max(out_max, j - 1 + stall)
            i = j
            continue
        cycle = i + stall
        s = 0
        if i == nxt_read:
            ri += 1
            for op, (per_row, lines) in enumerate((ea, eb)):
                q = per_row.get(i)
                if not q:
                    continue
                offset = 1
                for _ in range(q):
                    last[op] += lines + 1
                    pot = last[op] - (cycle + offset)
                    offset += pot
                    if pot > 0:
                        offset += pot
                s = max(s, offset - 1)
        out = wb.row(cycle, int(wcount[i]))
        out_max = max(out_max, out)
        stall += max(s, out - cycle)
        i += 1
    writes = wb.finish()
    return out_max, stall, (ra, rb, writes)
