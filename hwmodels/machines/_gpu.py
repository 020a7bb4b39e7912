"""GPU roofline: the baseline users compare against.

Time of a GEMM = max(FLOPs / peak FLOP/s at the tensor-core precision used, bytes / HBM
bandwidth) (Williams, Waterman & Patterson, "Roofline", CACM 2009). Prefill GEMMs land on the
compute roof, decode GEMVs on the memory roof.

The compute precision is the fastest tensor-core precision the GPU supports that holds both
operands exactly (a float precision with at least the operand's exponent and mantissa bits, or an
integer one at least as wide; integers fit a float precision whose significand holds them). Block
formats compute on their element format (scales applied in the epilogue), and are fetched at
their true bits per element.

Energy: the arithmetic, shared-memory and HBM parts are computed bottom-up (MAC energy of the
compute precision at the GPU's node; shared memory reads per 128 × 128 output tile; HBM at
``hbm_pj_per_bit``), and board power bounds the total from below: the rest of
``power_w × seconds`` is reported as ``overhead`` (control, register files, clocking, leakage).
This is the accounting under which published GPU-vs-accelerator energy ratios (power × time) are
made.
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
from ._common import FormatSpec, check_dims, check_fields, mac_terms, resolve_operands, scaled_table

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

_TILE = 128  # output tile edge used for the shared-memory reuse model (a typical CUTLASS tile)


def _holds(target: Operand, src: Operand) -> bool:
    """Whether every value of ``src`` elements is exactly representable in ``target``."""
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
    """A GPU as a roofline: dense tensor-core peaks per precision, HBM bandwidth, board power.

    A peak of 0 means the precision is not supported.

    Args:
        fp32_flops_per_s ... int4_ops_per_s: dense peak rates (2 FLOPs per MAC).
        hbm_bandwidth_bytes_per_s: memory bandwidth, B/s. hbm_bytes: memory capacity, bytes.
        power_w: board power (TDP), W.  clock_hz: boost clock, Hz (for ``cycles``).
        node_nm: process node, nm.  hbm_pj_per_bit: HBM access energy, pJ/bit.
        shared_memory_bytes: per-SM shared memory, bytes (SRAM energy size class).
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
    energy_table: EnergyTable | None = None
    name: str = dataclasses.field(default="", compare=False)

    NESTED: ClassVar[dict] = {"energy_table": ("energy_table", False)}
    #: peaks of the optional precisions: 0 = not supported
    NON_NEGATIVE: ClassVar[tuple] = ("fp8_flops_per_s", "fp4_flops_per_s", "int8_ops_per_s",
                                     "int4_ops_per_s")

    def __post_init__(self):
        check_fields(self)  # numeric fields finite and > 0 (NON_NEGATIVE: >= 0), types checked
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

    @property
    def memory_capacity_bytes(self) -> float:
        """Memory a workload must fit (weights, KV cache, activations): the HBM, bytes."""
        return self.hbm_bytes

    @property
    def peak_macs_per_s(self) -> float:
        """Fastest dense MAC rate over all supported precisions."""
        return max(getattr(self, f) for f in GPU_PRECISIONS) / 2

    # ----------------------------------------------------------------- costs
    def gemm(self, m: int, k: int, n: int, *, a_format: FormatSpec = None, b_format: FormatSpec = None,
             accumulator: FormatSpec = None) -> Cost:
        """Roofline cost of (m×k)@(k×n) (``a`` activations, ``b`` weights).

        None formats default to bfloat16 operands with float32 accumulation. HBM traffic reads
        each operand once and writes the m×n output once in the activation format (L2 is
        assumed to capture tile reuse).

        Returns:
            :class:`Cost` with ``mac``, ``sram``, ``dram`` and ``overhead`` energy.
        """
        from lowbit import formats

        check_dims(m, k, n)
        a, b, acc = resolve_operands(a_format, b_format, accumulator, "bfloat16", "bfloat16",
                                     "float32")
        field, prec_name, peak = self.compute_precision(a, b)
        oa, ob, oc = operand(a), operand(b), operand(acc)
        macs = m * k * n
        flops = 2.0 * macs
        hbm_bytes = (m * k * oa.storage_bits + k * n * ob.storage_bits
                     + m * n * oa.storage_bits) / 8
        t_compute = flops / peak
        t_memory = hbm_bytes / self.hbm_bandwidth_bytes_per_s
        seconds = max(t_compute, t_memory)
        table = scaled_table(self.energy_table, self.node_nm)
        prec = formats.get(prec_name)
        me = mac_terms(prec, prec, acc, table)
        blk = mac_terms(a, b, acc, table)  # block-scale handling of the stored formats
        a_reads = m * k * math.ceil(n / _TILE)
        b_reads = k * n * math.ceil(m / _TILE)
        pbits = operand(prec).bits
        parts = {
            "mac": macs * me.mac_pj,
            "scale": macs * blk.scale_pj,
            "table": macs * blk.table_pj + a_reads * blk.a_decode_pj + b_reads * blk.b_decode_pj,
            "sram": (a_reads + b_reads) * table.sram_access(pbits, self.shared_memory_bytes)
            + m * n * table.sram_access(oc.bits, self.shared_memory_bytes),
            "dram": hbm_bytes * 8 * self.hbm_pj_per_bit,
        }
        dynamic = sum(parts.values())
        parts["overhead"] = max(0.0, self.power_w * seconds * 1e12 - dynamic)
        cycles = seconds * self.clock_hz
        return Cost(cycles=cycles, seconds=seconds, breakdown=parts, macs=macs,
                    capacity_macs=peak / 2 * seconds,
                    accesses={"dram_bytes": hbm_bytes, "flops": flops,
                              "compute_seconds": t_compute, "memory_seconds": t_memory})

    def roofline_seconds(self, m: int, k: int, n: int, *, a_format: FormatSpec = None,
                         b_format: FormatSpec = None) -> float:
        """The roofline itself: max(FLOPs / peak, compulsory bytes / bandwidth), seconds."""
        return self.gemm(m, k, n, a_format=a_format, b_format=b_format).seconds


register_kind("gpu", GPU)
