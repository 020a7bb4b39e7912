"""lowbit ``simulator``: work — bit-exact emulation of quantized GEMMs and layers (``matmul``,
``layers``, ``compare``, LUT-GEMM and bit-serial functional models, integer requantization),
workloads, ``estimate`` and ``sweep`` over the ``hwmodels`` machines, and the ``lowbit`` CLI."""
from . import layers as layers
from . import workloads as workloads
from .emulate._accumulate import FP8_TENSOR_CORE_ACCUMULATOR as FP8_TENSOR_CORE_ACCUMULATOR
from .emulate._accumulate import Accumulator as Accumulator
from .emulate._bitserial import BitSerialCounts as BitSerialCounts
from .emulate._bitserial import bitserial_counts as bitserial_counts
from .emulate._bitserial import bitserial_matmul as bitserial_matmul
from .emulate._compare import Metrics as Metrics
from .emulate._compare import compare as compare
from .emulate._lutgemm import LutCounts as LutCounts
from .emulate._lutgemm import lut_gemm as lut_gemm
from .emulate._lutgemm import lut_gemm_bcq as lut_gemm_bcq
from .emulate._lutgemm import lut_gemm_codebook as lut_gemm_codebook
from .emulate._lutgemm import lut_gemm_counts as lut_gemm_counts
from .emulate._matmul_dispatch import matmul as matmul
from .emulate._requant import int_gemm as int_gemm
from .emulate._requant import quantize_multiplier as quantize_multiplier
from .emulate._requant import requantize as requantize
from .estimation._estimate import Report as Report
from .estimation._estimate import estimate as estimate
from .estimation._pareto import pareto as pareto
from .estimation._pareto import plot_pareto as plot_pareto
from .estimation._recipe_costs import Recipe as Recipe
from .estimation._sweep import SweepError as SweepError
from .estimation._sweep import sweep as sweep

__all__ = [
    "Accumulator",
    "FP8_TENSOR_CORE_ACCUMULATOR",
    "matmul",
    "estimate",
    "Report",
    "Recipe",
    "sweep",
    "SweepError",
    "pareto",
    "plot_pareto",
    "workloads",
    "quantize_multiplier",
    "requantize",
    "int_gemm",
    "LutCounts",
    "lut_gemm",
    "lut_gemm_bcq",
    "lut_gemm_codebook",
    "lut_gemm_counts",
    "BitSerialCounts",
    "bitserial_matmul",
    "bitserial_counts",
    "compare",
    "Metrics",
    "layers",
]
