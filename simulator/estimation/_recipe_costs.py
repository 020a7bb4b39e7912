"""What a quantization recipe costs on a machine: online rotations, outlier GEMMs and their index
traffic, low-rank GEMMs, the reductions of dynamic scales, and the bytes of every piece of
metadata. :func:`simulator.estimate` adds these to the workload's GEMMs when given
``recipe=Recipe(...)``.

The model (each rule states its assumption):

* **Online rotations** (QuaRot, arXiv 2404.00456 §4; SpinQuant, arXiv 2405.16406 §3: R3/R4):
  the input of the layers named in ``online`` is rotated on the fly, one rotation of size n =
  the layer's K per activation row. The offline rotations fold into the weights and cost
  nothing. On a machine with a vector unit (a GPU's CUDA cores; any machine record with
  ``vector_flops_per_s``) a Hadamard rotation of n = m·2^k (``formats.hadamard_factors``) is the
  fast transform: n·k butterfly adds and n for the scaling at the vector rate, its activations
  read and written once in 16 bits (a separate kernel, as ``fast_hadamard_transform``) — time
  max(operations / rate, bytes / bandwidth) — and, for m > 1, the m×m base product as a GEMM
  (rows·2^k × m × m: QuaRot's ``matmul_hadU`` calls a matmul for it). Without a vector unit
  (systolic, bit-serial, LUT-GEMM, wafer) all of H_m ⊗ H_(2^k) runs on the GEMM engine: a
  (rows·m × 2^k)·(2^k × 2^k) GEMM and the base GEMM, in the activation format (the entries ±1
  are exact in every format; 1/√n folds into the scale). A dense orthogonal matrix
  (``rotation="matrix"``) is one rows × n × n GEMM (or n² multiply-adds per row on the vector
  unit).
  ``attn_qk`` rotates both Q and the new keys (counted as twice the Q rows: exact for
  multi-head attention, an upper bound under grouped-query attention).
* **Dynamic scales**: every activation operand in a format narrower than 16 bits whose scale
  is computed at run time (``activation_scales="dynamic"``; block formats always, their block
  scales are dynamic by construction) costs one |x| and one max per element plus one scale per
  group — on the vector unit (fused into the producing kernel: no extra memory traffic), or,
  without one, energy only (comparators in the conversion unit, pipelined with the data).
* **Outliers**: ``"int8"`` (LLM.int8(), arXiv 2208.07339): per weight GEMM a second GEMM of the
  ⌈fraction·K⌉ outlier columns in ``outlier_format`` (m × K_out × n), the column detection (a
  reduction over the activations, as a dynamic scale) and the gather of those columns with their
  indices (m·K_out activations and K_out ``index_bits`` indices moved once). ``"sparse"`` (SpQR,
  arXiv 2306.03078): nnz = ⌊fraction·K·N⌋ weights in ``outlier_format`` with a column index of
  ``index_bits`` each and a 32-bit row pointer per output row (CSR), streamed from memory on
  every use; the sparse product is 2·m·nnz operations on the vector unit, or a dense GEMM of the
  compacted columns (m × ⌈nnz/N⌉ × N) without one.
* **Low rank** (LQ-LoRA, arXiv 2311.12023): x·Rᵀ·Lᵀ as two GEMMs, m × K × r and m × r × N, in
  ``low_rank_format``.
* **Footprint** (``metadata_bytes``, on top of the weights at their bits per element, which
  already count block and group scales): per-tensor scales of two-level weight formats (NVFP4:
  one float32 per weight matrix), static activation scales (one float32 per activation
  operand), outlier values, indices and row pointers, low-rank factors, and the stored rotations
  (random signs, 1 bit each, or a dense n×n float16 matrix).

Where a vector op's energy is needed: one float16 add (``fp_add(11)``) per add, compare or
butterfly, a float16 multiply-add per base-product term, at the machine's technology node;
memory at the machine's DRAM/HBM energy per bit; a GPU's board power bounds the total below
(``overhead``), as its GEMMs do.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

__all__ = ["Recipe", "recipe_costs", "ROTATION_KINDS", "OUTLIER_KINDS", "QUAROT_ONLINE"]

ROTATION_KINDS = ("hadamard", "random_hadamard", "matrix")
OUTLIER_KINDS = ("int8", "sparse")
ROTATION_UNITS = ("auto", "vector", "gemm")
#: The online rotations of QuaRot (arXiv 2404.00456, §4 and Fig. 4): the input of down_proj, the
#: heads before o_proj, and Q/K after RoPE (for the quantized KV cache).
QUAROT_ONLINE = ("down_proj", "o_proj", "attn_qk")


def _fmt(spec, name):
    from lowbit import formats

    try:
        return formats.get(spec) if isinstance(spec, str) else spec
    except (KeyError, ValueError) as e:
        raise ValueError(f"{name}: unknown format {spec!r}") from e


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A quantization recipe, for costs (:func:`simulator.estimate`'s ``recipe=``).

    Args:
        rotation: None, ``"hadamard"``, ``"random_hadamard"`` or ``"matrix"`` (a dense learned
            orthogonal matrix applied online).
        online: the layer kinds (``Gemm.kind``) whose input is rotated online (default
            QuaRot's: ``down_proj``, ``o_proj``, ``attn_qk``).
        rotation_unit: ``"auto"`` (the vector unit where the machine has one, else the GEMM
            engine), ``"vector"`` or ``"gemm"``.
        outliers: None, ``"int8"`` (LLM.int8() columns) or ``"sparse"`` (SpQR weights).
        outlier_fraction: the fraction of activation columns (int8) or of weights (sparse)
            kept in ``outlier_format``, in [0, 1].
        outlier_format: their format (default float16).
        index_bits: bits per stored outlier index (default 16, SpQR's column index).
        low_rank: the rank r of LQ-LoRA's factors (0: none).
        low_rank_format: the factors' format (default float16).
        activation_scales: ``"dynamic"`` (computed per input at run time, default) or
            ``"static"`` (calibrated offline: no reduction, one stored float32 per operand).
        name: a label for reports.

    Raises:
        ValueError: naming the field and what it allows.
    """

    rotation: str | None = None
    online: tuple = QUAROT_ONLINE
    rotation_unit: str = "auto"
    outliers: str | None = None
    outlier_fraction: float = 0.0
    outlier_format: object = "float16"
    index_bits: int = 16
    low_rank: int = 0
    low_rank_format: object = "float16"
    activation_scales: str = "dynamic"
    name: str = ""

    def __post_init__(self):
        if self.rotation is not None and self.rotation not in ROTATION_KINDS:
            raise ValueError(f"rotation must be None or one of {ROTATION_KINDS}, got {self.rotation!r}")
        if isinstance(self.online, str) or not all(isinstance(k, str) for k in self.online):
            raise ValueError(f"online must be a tuple of layer kinds (str), got {self.online!r}")
        object.__setattr__(self, "online", tuple(self.online))
        if self.rotation_unit not in ROTATION_UNITS:
            raise ValueError(f"rotation_unit must be one of {ROTATION_UNITS}, got {self.rotation_unit!r}")
        if self.outliers is not None and self.outliers not in OUTLIER_KINDS:
            raise ValueError(f"outliers must be None or one of {OUTLIER_KINDS}, got {self.outliers!r}")
        f = self.outlier_fraction
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f <= 1:
            raise ValueError(f"outlier_fraction must be a number in [0, 1], got {f!r}")
        for name in ("index_bits", "low_rank"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "index_bits" else 0):
                raise ValueError(f"{name} must be an int >= {1 if name == 'index_bits' else 0}, got {v!r}")
        if self.activation_scales not in ("dynamic", "static"):
            raise ValueError(f"activation_scales must be 'dynamic' or 'static', got {self.activation_scales!r}")
        _fmt(self.outlier_format, "outlier_format")
        _fmt(self.low_rank_format, "low_rank_format")


# ------------------------------------------------------------------------------ machine facts
def _table(machine):
    from lowbit import hwmodels

    t = getattr(machine, "energy_table", None) or hwmodels.energy_table()
    node = getattr(machine, "node_nm", None)
    return t.at_node(node) if node is not None else t


def _vector_rate(machine) -> float | None:
    """Vector (non-GEMM) operations per second, or None: a record's ``vector_flops_per_s``, a
    GPU's CUDA-core rate (its ``fp32_flops_per_s``: the datasheet's non-tensor FP32 peak)."""
    from lowbit import hwmodels

    v = getattr(machine, "vector_flops_per_s", None)
    if v:
        return float(v)
    if isinstance(machine, hwmodels.GPU):
        return float(machine.fp32_flops_per_s)
    return None


def _bandwidth(machine) -> float | None:
    """Off-chip bytes per second, or None (unlimited: the record states none)."""
    bw = getattr(machine, "hbm_bandwidth_bytes_per_s", None)
    if bw:
        return float(bw)
    per_cycle = getattr(machine, "dram_bandwidth_bytes_per_cycle", None)
    if per_cycle:
        return float(per_cycle) * float(machine.clock_hz)
    return None


def _dram_pj_per_byte(machine, table) -> float:
    for attr in ("hbm_pj_per_bit", "dram_pj_per_bit"):
        v = getattr(machine, attr, None)
        if v:
            return 8.0 * float(v)
    return table.dram_access(8)


def _vector_cost(machine, *, adds=0.0, macs=0.0, bytes_moved=0.0, category="mac", time=True):
    """A Cost for vector work: ``adds`` float16 adds/compares, ``macs`` float16 multiply-adds,
    ``bytes_moved`` off-chip bytes; time on the vector unit (roofline with the bandwidth), or
    energy only (``time=False``)."""
    from lowbit import hwmodels

    t = _table(machine)
    e_arith = adds * t.fp_add(11) + macs * (t.fp_mult(11, 11, 5) + t.fp_add(11))
    parts = {category: e_arith, "dram": bytes_moved * _dram_pj_per_byte(machine, t)}
    seconds = 0.0
    rate, bw = _vector_rate(machine), _bandwidth(machine)
    if time:
        t_c = (adds + 2 * macs) / rate if rate else 0.0
        t_m = bytes_moved / bw if bw else 0.0
        seconds = max(t_c, t_m)
    power = getattr(machine, "power_w", None)
    if power:
        parts["overhead"] = max(0.0, power * seconds * 1e12 - sum(parts.values()))
    clock = float(getattr(machine, "clock_hz", 1.0))
    return hwmodels.Cost(cycles=seconds * clock, seconds=seconds, breakdown=parts,
                         accesses={"dram_bytes": bytes_moved, "vector_ops": adds + 2 * macs})


def _gemm(machine, m, k, n, a, b, accumulator):
    return machine.gemm(int(m), int(k), int(n), a_format=a, b_format=b, accumulator=accumulator)


def _bits(fmt) -> float:
    return float(getattr(fmt, "bits_per_element", None) or fmt.bits)


def _narrow(fmt) -> bool:
    return getattr(fmt, "family", None) in ("block", "scaled_int", "codebook") or _bits(fmt) < 16


# ------------------------------------------------------------------------------ the costs
def _rotation_cost(machine, recipe, rows, n, activations, accumulator):
    from lowbit import formats

    unit = recipe.rotation_unit
    if unit == "auto":
        unit = "vector" if _vector_rate(machine) else "gemm"
    if unit == "vector" and not _vector_rate(machine):
        raise ValueError(f"rotation_unit='vector' but {getattr(machine, 'name', machine)} has no vector unit "
                         "(no vector_flops_per_s)")
    if recipe.rotation == "matrix":
        if unit == "vector":
            return _vector_cost(machine, macs=rows * n * n, bytes_moved=4.0 * rows * n)
        return _gemm(machine, rows, n, n, activations, activations, accumulator)
    m, p2 = formats.hadamard_factors(n)
    if unit == "vector":  # butterflies + the 1/√n (and sign) multiply on the vector unit
        cost = _vector_cost(machine, adds=rows * n * (math.log2(p2) + 1), bytes_moved=4.0 * rows * n)
    else:
        cost = _gemm(machine, rows * m, p2, p2, activations, activations, accumulator)
    if m > 1:  # the m×m base product is a small GEMM on either (QuaRot: a torch.matmul)
        cost = cost + _gemm(machine, rows * p2, m, m, activations, activations, accumulator)
    return cost


def _count(fraction, total) -> int:
    return math.floor(total * Fraction(repr(float(fraction))))


def recipe_costs(layers, machine, recipe: Recipe, *, weights, activations, accumulator=None):
    """The recipe's extra costs of a workload's GEMMs, and its metadata bytes.

    Args:
        layers: the workload's ``Gemm`` records (``workload.layers()``).
        machine: a machine record with ``.gemm``.
        recipe: the :class:`Recipe`.
        weights, activations, accumulator: format records (as :func:`simulator.estimate`
            resolves them).

    Returns:
        ``(rows, footprint)``: rows are ``(name, kind, Cost)`` — kind ``rotation``, ``scales``,
        ``outliers`` or ``low_rank``, each cost covering all ``count`` repetitions — and
        footprint maps ``scale_bytes``, ``outlier_bytes``, ``low_rank_bytes``,
        ``rotation_bytes`` to bytes, with ``metadata_bytes`` their sum.

    Raises:
        ValueError: a rotation of a size without a Hadamard matrix, a vector rotation on a
            machine without a vector unit, a format the machine cannot run.
    """
    of = _fmt(recipe.outlier_format, "outlier_format")
    lf = _fmt(recipe.low_rank_format, "low_rank_format")
    rows, fp = [], {"scale_bytes": 0.0, "outlier_bytes": 0.0, "low_rank_bytes": 0.0, "rotation_bytes": 0.0}
    has_vec = _vector_rate(machine) is not None
    wts = getattr(weights, "tensor_scale", None)
    two_level = wts is not None and not isinstance(wts, (bool, type(None)))
    seen_rot = set()
    for g in layers:
        m, k, n, c = g.m, g.k, g.n, g.count
        a_rows = m * c
        if recipe.rotation is not None and g.kind in recipe.online:
            r_rows = 2 * a_rows if g.kind == "attn_qk" else a_rows
            rows.append((f"{g.name}.rotation", "rotation",
                         _rotation_cost(machine, recipe, r_rows, k, activations, accumulator)))
            if g.kind not in seen_rot:  # one stored rotation per rotated layer kind and block
                seen_rot.add(g.kind)
                per = k / 8 if recipe.rotation == "random_hadamard" else (
                    2.0 * k * k if recipe.rotation == "matrix" else 0.0)
                fp["rotation_bytes"] += per * c
        # dynamic activation scales: a reduction over the activations before the GEMM
        if _narrow(activations) and (recipe.activation_scales == "dynamic"
                                     or getattr(activations, "family", None) == "block"):
            block = getattr(activations, "block_size", None) or k
            rows.append((f"{g.name}.scales", "scales",
                         _vector_cost(machine, adds=2.0 * a_rows * k + a_rows * math.ceil(k / block),
                                      category="scale", time=has_vec)))
        if recipe.activation_scales == "static" and _narrow(activations):
            fp["scale_bytes"] += 4.0 * c
        if g.b_operand != "weight":
            continue
        if two_level:
            fp["scale_bytes"] += 4.0 * c
        if recipe.outliers == "int8" and recipe.outlier_fraction > 0:
            k_out = math.ceil(recipe.outlier_fraction * k)
            cost = _gemm(machine, m, k_out, n, of, of, None) * c
            cost = cost + _vector_cost(machine, adds=2.0 * a_rows * k, category="scale", time=has_vec)
            cost = cost + _vector_cost(machine, bytes_moved=(a_rows * k_out * _bits(of)
                                                             + c * k_out * recipe.index_bits) / 8, time=True)
            rows.append((f"{g.name}.outliers", "outliers", cost))
        elif recipe.outliers == "sparse" and recipe.outlier_fraction > 0:
            nnz = _count(recipe.outlier_fraction, k * n)
            stored = (nnz * (_bits(of) + recipe.index_bits) + (n + 1) * 32) / 8
            if has_vec:
                cost = _vector_cost(machine, macs=float(m) * nnz * c, bytes_moved=stored * c)
            else:
                cost = (_gemm(machine, m, max(1, math.ceil(nnz / n)), n, of, of, None) * c
                        + _vector_cost(machine, bytes_moved=stored * c, time=True))
            rows.append((f"{g.name}.outliers", "outliers", cost))
            fp["outlier_bytes"] += stored * c
        if recipe.low_rank:
            r = recipe.low_rank
            cost = (_gemm(machine, m, k, r, lf, lf, None) + _gemm(machine, m, r, n, lf, lf, None)) * c
            rows.append((f"{g.name}.low_rank", "low_rank", cost))
            fp["low_rank_bytes"] += (k + n) * r * _bits(lf) / 8 * c
    fp["metadata_bytes"] = sum(fp.values())
    return rows, fp
