"""GPU: a roofline calibrated to measurements, with dequantization on the time path.

Time of one GEMM kernel (Williams, Waterman & Patterson, "Roofline", CACM 2009, with achieved
rather than peak rates):

    compute = FLOPs / (peak(precision) · η_c) + dequantized elements · ops / (CUDA-core rate · η_c)
    memory  = HBM bytes / (HBM bandwidth · η_m)
    seconds = max(compute, memory) + kernel overhead

η_c (``achieved_compute_fraction``), η_m (``achieved_bandwidth_fraction``) and the per-kernel
overhead (``kernel_overhead_s``) are fitted to published LLM inference measurements
(``tests/fixtures/measurements/calibrate_gpu.py``; the fitted values live in the presets with
that source, and ``docs/hardware/validation.md`` reports the fit and the held-out errors).
Prefill GEMMs land on the compute roof, decode GEMVs on the memory roof.

The compute precision is the fastest tensor-core precision the GPU supports that holds both
operands' elements exactly (a float precision with at least the operand's exponent and mantissa
bits, or an integer one at least as wide; integers fit a float precision whose significand
holds them; a codebook's entries are its decoded format, float16). An operand stored in another
format — int4 weights on fp16 tensor cores (W4A16), NF4 codebook indices, block-scaled formats
on a GPU without block-scaled tensor cores (those with FP4 tensor cores, Blackwell, scale MX and
NVFP4 blocks natively) — is **dequantized on the CUDA cores** before the tensor cores use it:
``dequant_ops_per_element`` integer/FP operations per element (unpack, convert, scale, or a
table lookup), at the CUDA-core rate (``fp32_flops_per_s`` / 2 operations per second), weights
once per 128-row tile of the output (as W4A16 kernels reload them), activations once. Fetched
at their true bits per element (MXFP4 4.25, NF4 4.5).

Energy: the arithmetic, shared-memory and HBM parts bottom-up (MAC energy of the compute
precision at the GPU's node; shared memory reads per 128 × 128 output tile; HBM at
``hbm_pj_per_bit``); static power × time (``static``); board power bounds the total from below:
the rest of ``power_w × seconds`` is ``overhead`` (control, register files, clocking). This is
the accounting under which published GPU-vs-accelerator energy ratios (power × time) are made.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import ClassVar

from .._cost import Cost
from .._loader import register_kind
from .._operand import Operand, operand
from ..energy._energy import EnergyTable
from ._common import FormatSpec, check_dims, check_fields, extra_args, mac_terms, resolve_operands, scaled_table

__all__ = ["GPU", "GPU_PRECISIONS"]

#: tensor-core precisions: field -> (format name of the operands, kind)
GPU_PRECISIONS = {
    "int4_ops_per_s": "int4",
    "fp4_flops_per_s": "float4_e2m1fn",
    "int8_ops_per_s": "int8",
    "fp8_flops_per_s": "float8_e4m3fn",   # FP8 tensor cores take E4M3 and E5M2
    "fp16_flops_per_s": "float16",
    "bf16_flops_per_s": "bfloat16",
    "tf32_flops_per_s": "tf32",
    "fp32_flops_per_s": "float32",
}
_FP8_E5M2 = "float8_e5m2"

_TILE = 128  # output tile edge of the shared-memory reuse model and of weight reloads (CUTLASS)


def _element(o: Operand) -> Operand:
    """What the tensor cores multiply for an operand: a codebook's decoded entries."""
    return o.decoded if o.kind == "codebook" and o.decoded is not None else o


def _holds(target: Operand, src: Operand) -> bool:
    """Whether every value of ``src`` elements is exactly representable in ``target``."""
    src = _element(src)
    if target.kind == "int":
        return src.kind == "int" and src.bits <= target.bits and (src.signed or target.bits > src.bits
                                                                  or not target.signed)
    if target.kind != "float":
        return False
    if src.kind == "int":
        mag = src.bits - (1 if src.signed else 0)
        return mag <= target.significand_bits and 2 ** (target.exponent_bits - 1) - 1 >= mag
    if src.kind == "float":
        return (target.significand_bits >= src.significand_bits
                and target.exponent_bits >= src.exponent_bits)
    return False


@dataclasses.dataclass(frozen=True)
class GPU:
    """A GPU as a calibrated roofline: dense tensor-core peaks per precision, HBM bandwidth,
    achieved fractions of both, a per-kernel overhead, board power.

    A peak of 0 means the precision is not supported.

    Args:
        fp32_flops_per_s ... int4_ops_per_s: dense peak rates (2 FLOPs per MAC).
        hbm_bandwidth_bytes_per_s: memory bandwidth, B/s. hbm_bytes: memory capacity, bytes.
        power_w: board power (TDP), W.  clock_hz: boost clock, Hz (for ``cycles``).
        node_nm: process node, nm.  hbm_pj_per_bit: memory access energy, pJ/bit.
        shared_memory_bytes: per-SM shared memory, bytes (SRAM energy size class).
        achieved_bandwidth_fraction: η_m, the fraction of the HBM bandwidth kernels achieve.
        achieved_compute_fraction: η_c, the fraction of the tensor-core (and CUDA-core) peak.
        kernel_overhead_s: fixed time per kernel (launch, prologue, tail), s.
        dequant_ops_per_element: CUDA-core operations to dequantize one stored element.
        static_power_w: static power, W; None = 25 % of ``power_w`` (assumption: the measured
            idle/busy power ratio of a K80 die, 25 W / 98 W, Jouppi et al., ISCA 2017, Table 2).
        energy_table: per-operation energy table (default Horowitz 45 nm), rescaled to node_nm.
    """

    fp32_flops_per_s: float
    tf32_flops_per_s: float
    fp16_flops_per_s: float
    bf16_flops_per_s: float
    hbm_bandwidth_bytes_per_s: float
    power_w: float
    clock_hz: float
    node_nm: float
    fp8_flops_per_s: float = 0.0
    fp4_flops_per_s: float = 0.0
    int8_ops_per_s: float = 0.0
    int4_ops_per_s: float = 0.0
    hbm_bytes: float = 80e9
    hbm_pj_per_bit: float = 3.9  # HBM2, O'Connor et al., "Fine-grained DRAM", MICRO 2017
    shared_memory_bytes: float = 2.0**18
    achieved_bandwidth_fraction: float = 1.0
    achieved_compute_fraction: float = 1.0
    kernel_overhead_s: float = 0.0
    # assumption: ~2 CUDA-core instructions per element — unpack and convert with bit tricks
    # and multiply by the scale, on pairs of fp16 values (half2), or a shared-memory table
    # lookup and a multiply for a codebook
    dequant_ops_per_element: float = 2.0
    static_power_w: float | None = None
    energy_table: EnergyTable | None = None
    name: str = dataclasses.field(default="", compare=False)

    UNITLESS: ClassVar[tuple] = ("achieved_bandwidth_fraction", "achieved_compute_fraction",
                                 "dequant_ops_per_element")
    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}
    #: peaks of the optional precisions: 0 = not supported
    NON_NEGATIVE: ClassVar[tuple] = ("fp8_flops_per_s", "fp4_flops_per_s", "int8_ops_per_s",
                                     "int4_ops_per_s", "kernel_overhead_s",
                                     "dequant_ops_per_element", "static_power_w")

    def __post_init__(self):
        check_fields(self)  # numeric fields finite and > 0 (NON_NEGATIVE: >= 0), types checked
        for f in ("achieved_bandwidth_fraction", "achieved_compute_fraction"):
            if getattr(self, f) > 1:
                raise ValueError(f"{f} must be in (0, 1], got {getattr(self, f)!r}")
        if self.static_power_w is not None and self.static_power_w > self.power_w:
            raise ValueError(f"static_power_w must be at most power_w ({self.power_w}), "
                             f"got {self.static_power_w!r}")
        scaled_table(self.energy_table, self.node_nm)

    # ------------------------------------------------------------ precision
    @functools.lru_cache(maxsize=256)
    def compute_precision(self, a, b) -> tuple[str, str, float]:
        """(peak field, operand format name, peak FLOP/s) used for operands ``a`` and ``b``.

        Raises:
            ValueError: if no supported precision holds both operands.
        """
        from lowbit import formats

        oa, ob = operand(a), operand(b)
        best = None
        for field, fmt_name in GPU_PRECISIONS.items():
            peak = getattr(self, field)
            if peak <= 0:
                continue
            cands = [fmt_name] + ([_FP8_E5M2] if field == "fp8_flops_per_s" else [])
            for cand in cands:
                t = operand(formats.get(cand))
                if _holds(t, oa) and _holds(t, ob):
                    if best is None or peak > best[2]:
                        best = (field, cand, float(peak))
        if best is None:
            raise ValueError(f"no tensor-core precision of this GPU holds {oa.name or oa.kind} "
                             f"× {ob.name or ob.kind}")
        return best

    def _dequantized(self, o: Operand, prec_name: str) -> bool:
        """Whether an operand must be converted on the CUDA cores before the tensor cores."""
        if o.kind == "codebook":
            return True
        if o.is_block:
            # block-scaled tensor cores (FP4-capable, Blackwell) apply MX/NVFP4 scales natively
            return not (self.fp4_flops_per_s > 0 and o.block_size in (16, 32))
        return _summary(o) != _summary(_precision_operand(prec_name))

    @property
    def memory_capacity_bytes(self) -> float:
        """Memory a workload must fit (weights, KV cache, activations): the HBM, bytes."""
        return self.hbm_bytes

    @property
    def peak_macs_per_s(self) -> float:
        """Fastest dense MAC rate over all supported precisions."""
        return max(getattr(self, f) for f in GPU_PRECISIONS) / 2

    @property
    def static_w(self) -> float:
        """Static power in effect, W."""
        return 0.25 * self.power_w if self.static_power_w is None else float(self.static_power_w)

    # ----------------------------------------------------------------- costs
    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None, batch: int = 1, a_elements: int | None = None) -> Cost:
        """Cost of one kernel computing (m×k)@(k×n) (``a`` activations, ``b`` weights).

        None formats default to bfloat16 operands with float32 accumulation. HBM traffic reads
        each operand once and writes the m×n output once in the activation format (L2 is
        assumed to capture tile reuse).

        Args:
            m, k, n: GEMM dimensions, ints >= 1.
            a_format, b_format, accumulator: formats (None: bfloat16, bfloat16, float32).
            batch: independent GEMMs of this shape in the same kernel (a batched GEMM, e.g. the
                attention of every head): work and traffic × batch, one kernel overhead.
            a_elements: distinct elements of ``a`` in memory (a convolution's input read by
                an implicit GEMM); None = m·k.

        Returns:
            :class:`Cost` with ``mac``, ``sram``, ``dram``, ``scale``, ``table``, ``static``
            and ``overhead`` energy; ``times`` ``compute`` (tensor cores + dequantization),
            ``dram`` (HBM) and ``overhead`` (the kernel's fixed time); per-operand HBM bytes.

        Raises:
            ValueError: no tensor-core precision of this GPU holds the operands.
        """
        check_dims(m, k, n)
        batch, a_elems = extra_args(m, k, batch, a_elements)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, "bfloat16", "bfloat16",
                                     "float32")
        return _cached(self, m, k, n, a, b, acc, batch, a_elems)

    def _cost(self, m, k, n, a, b, acc, batch, a_elems) -> Cost:
        from lowbit import formats

        field, prec_name, peak = self.compute_precision(a, b)
        oa, ob, oc = operand(a), operand(b), operand(acc)
        macs = float(m * k * n * batch)
        flops = 2.0 * macs
        a_bytes = a_elems * oa.storage_bits / 8 * batch
        b_bytes = k * n * ob.storage_bits / 8 * batch
        c_bytes = m * n * oa.storage_bits / 8 * batch
        hbm_bytes = a_bytes + b_bytes + c_bytes
        deq = 0.0
        if self._dequantized(ob, prec_name):
            deq += k * n * math.ceil(m / _TILE) * batch
        if self._dequantized(oa, prec_name):
            deq += a_elems * batch
        eta_c = self.achieved_compute_fraction
        t_tensor = flops / (peak * eta_c)
        t_deq = deq * self.dequant_ops_per_element / (self.fp32_flops_per_s / 2 * eta_c)
        t_compute = t_tensor + t_deq
        t_memory = hbm_bytes / (self.hbm_bandwidth_bytes_per_s * self.achieved_bandwidth_fraction)
        seconds = max(t_compute, t_memory) + self.kernel_overhead_s
        table = scaled_table(self.energy_table, self.node_nm)
        prec = formats.get(prec_name)
        me = mac_terms(prec, prec, acc, table)
        blk = mac_terms(a, b, acc, table)  # block-scale handling and decode of the stored formats
        a_reads = m * k * math.ceil(n / _TILE) * batch
        b_reads = k * n * math.ceil(m / _TILE) * batch
        pbits = operand(prec).bits
        parts = {
            "mac": macs * me.mac_pj,
            # dequantization: per element, ops × a 16-bit operation (an add-class energy)
            "scale": macs * blk.scale_pj + deq * self.dequant_ops_per_element * table.int_add(16),
            "table": macs * blk.table_pj + a_reads * blk.a_decode_pj + b_reads * blk.b_decode_pj,
            "sram": (a_reads + b_reads) * table.sram_access(pbits, self.shared_memory_bytes)
            + m * n * batch * table.sram_access(oc.bits, self.shared_memory_bytes),
            "dram": hbm_bytes * 8 * self.hbm_pj_per_bit,
            "static": self.static_w * seconds * 1e12,
        }
        dynamic = sum(parts.values())
        parts["overhead"] = max(0.0, self.power_w * seconds * 1e12 - dynamic)
        cycles = seconds * self.clock_hz
        times = {"compute": t_compute, "dram": t_memory, "overhead": self.kernel_overhead_s}
        stall = max(0.0, t_memory - t_compute) * self.clock_hz  # waiting on HBM
        return Cost._trusted(
            cycles, seconds, parts, macs, peak / 2 * seconds, stall,
            {"a_dram_bytes": a_bytes, "b_dram_bytes": b_bytes, "c_dram_bytes": c_bytes,
             "dram_bytes": hbm_bytes, "flops": flops, "dequantized_elements": deq,
             "compute_seconds": t_compute, "memory_seconds": t_memory}, times, None)

    def roofline_seconds(self, m: int, k: int, n: int, *, a_format: FormatSpec = None,
                         b_format: FormatSpec = None) -> float:
        """The peak roofline: max(FLOPs / peak, compulsory bytes / bandwidth), seconds — the
        model without its calibration (fractions 1, no overhead, no dequantization)."""
        check_dims(m, k, n)
        a, b, _ = resolve_operands(a_format, b_format, None, "bfloat16", "bfloat16", "float32")
        _, _, peak = self.compute_precision(a, b)
        oa, ob = operand(a), operand(b)
        bytes_ = (m * k * oa.storage_bits + k * n * ob.storage_bits + m * n * oa.storage_bits) / 8
        return max(2.0 * m * k * n / peak, bytes_ / self.hbm_bandwidth_bytes_per_s)


def _summary(o: Operand) -> tuple:
    return (o.kind, o.bits, o.significand_bits, o.exponent_bits, o.signed)


@functools.lru_cache(maxsize=16)
def _precision_operand(name: str) -> Operand:
    from lowbit import formats

    return operand(formats.get(name))


@functools.lru_cache(maxsize=1 << 16)
def _cached(gpu: GPU, m, k, n, a, b, acc, batch, a_elems) -> Cost:
    return gpu._cost(m, k, n, a, b, acc, batch, a_elems)


register_kind("gpu", GPU)
