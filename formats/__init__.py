"""lowbit ``formats``: bit-exact low-precision number formats.

Records (:class:`FloatFormat`, :class:`IntFormat`, ...) describe formats; the verbs
:func:`quantize`, :func:`encode`, :func:`decode` and :func:`values` work on NumPy arrays (with
Numba kernels inside for large inputs) and JAX arrays, bit-identically.

Importing ``formats`` loads neither JAX nor Numba.
"""

from ._records import FloatFormat as FloatFormat
from ._records import IntFormat as IntFormat
from ._records import Format as Format
from ._records import SPECIALS as SPECIALS
from ._registry import get as get
from ._registry import names as names
from ._registry import select as select
from ._registry import p3109 as p3109
from ._options import ROUNDINGS as ROUNDINGS
from ._options import OVERFLOWS as OVERFLOWS
from ._qarray import QArray as QArray
from ._packing import pack_codes as pack_codes
from ._packing import unpack_codes as unpack_codes
from ._packing import pack_trits as pack_trits
from ._packing import unpack_trits as unpack_trits
from ._codec import quantize as quantize
from ._codec import encode as encode
from ._codec import decode as decode
from ._codec import values as values
from ._codec import register_codec as register_codec
from ._interop import to_ml_dtypes as to_ml_dtypes
from ._interop import from_ml_dtypes as from_ml_dtypes

__all__ = [
    "FloatFormat", "IntFormat", "Format", "SPECIALS", "get", "names", "select", "p3109",
    "ROUNDINGS", "OVERFLOWS", "QArray", "pack_codes", "unpack_codes", "pack_trits", "unpack_trits",
    "quantize", "encode",
    "decode", "values", "register_codec", "to_ml_dtypes", "from_ml_dtypes",
]

# Other number systems (issue 4): posits, LNS / power-of-two / LUQ, L-Mul, lattice quantizers.
from ._posit import PositFormat as PositFormat
from ._lns import LNSFormat as LNSFormat
from ._lns import LUQFormat as LUQFormat
from ._lns import power_of_two as power_of_two
from ._lns import lns_multiply as lns_multiply
from ._lns import lns_divide as lns_divide
from ._lns import lns_add as lns_add
from ._lns import lns_subtract as lns_subtract
from ._lns import lns_add_error as lns_add_error
from ._lns import gaussian_log as gaussian_log
from ._lns import mitchell_multiply as mitchell_multiply
from ._lmul import lmul as lmul
from ._lmul import lmul_codes as lmul_codes
from . import lattice as lattice
from .lattice import NestedLatticeFormat as NestedLatticeFormat

__all__ += [
    "PositFormat", "LNSFormat", "LUQFormat", "power_of_two", "lns_multiply", "lns_divide", "lns_add",
    "lns_subtract", "lns_add_error", "gaussian_log", "mitchell_multiply", "lmul", "lmul_codes",
    "lattice", "NestedLatticeFormat",
]

# Scaled and block formats (issue 3): OCP MX, NVFP4, block floating point, scaled integers,
# codebooks, error analysis.
from ._block import BlockFormat as BlockFormat
from ._block import SCALE_RULES as SCALE_RULES
from ._block import block_scales as block_scales
from ._block import bfp as bfp
from ._block import dynamic_fixed_point as dynamic_fixed_point
from ._scaled import ScaledIntFormat as ScaledIntFormat
from ._scaled import dyadic as dyadic
from ._scaled import requantize as requantize
from ._scaled import zero_points as zero_points
from ._codebook import CodebookFormat as CodebookFormat
from ._codebook import NF4_LEVELS as NF4_LEVELS
from ._error import ErrorStats as ErrorStats
from ._error import error_stats as error_stats
from ._error import error_table as error_table

__all__ += [
    "BlockFormat", "SCALE_RULES", "block_scales", "bfp", "dynamic_fixed_point", "ScaledIntFormat",
    "dyadic", "requantize", "zero_points", "CodebookFormat", "NF4_LEVELS", "ErrorStats",
    "error_stats", "error_table",
]
