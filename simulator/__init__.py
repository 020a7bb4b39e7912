"""lowbit simulator."""
from ._accumulate import Accumulator as Accumulator
from ._accumulate import FP8_TENSOR_CORE_ACCUMULATOR as FP8_TENSOR_CORE_ACCUMULATOR
from ._matmul import matmul as matmul
from ._estimate import estimate as estimate
from ._estimate import Report as Report
from ._sweep import sweep as sweep
from . import workloads as workloads
from ._requant import quantize_multiplier as quantize_multiplier
from ._requant import requantize as requantize
from ._requant import int_gemm as int_gemm
