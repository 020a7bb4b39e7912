"""lowbit ``formats``: bit-exact low-precision number formats.

Records (:class:`FloatFormat`, :class:`IntFormat`, ...) describe formats; the verbs
:func:`quantize`, :func:`encode`, :func:`decode` and :func:`values` work on NumPy arrays (with
Numba kernels inside for large inputs) and JAX arrays, bit-identically.

Importing ``formats`` loads neither JAX nor Numba.

Packages built on ``formats`` (``lowbit.hwmodels``, ``lowbit.simulator``) use only the names
here and the public modules :mod:`formats.backend` (array namespaces, bit casts, the Numba
thresholds), :mod:`formats.numba` (kernels and bit casts inside compiled code),
:mod:`formats.lattice` and :mod:`formats.strategies`.
"""

# the codec of FloatFormat/IntFormat registers itself first: every other family uses it
from .scalar import _codec as _scalar_codec  # noqa: I001

from . import backend as backend
from . import lattice as lattice
from ._error import ErrorStats as ErrorStats
from ._error import error_stats as error_stats
from ._error import error_table as error_table
from ._products import MULTIPLIERS as MULTIPLIERS
from ._products import default_accumulator as default_accumulator
from .block._block import BlockFormat as BlockFormat
from .block._block import bfp as bfp
from .block._block import block_scales as block_scales
from .block._block import dynamic_fixed_point as dynamic_fixed_point
from .block._codebook import NF4_LEVELS as NF4_LEVELS
from .block._codebook import CodebookFormat as CodebookFormat
from .block._scaled import ScaledIntFormat as ScaledIntFormat
from .block._scaled import dyadic as dyadic
from .block._scaled import requantize as requantize
from .block._scaled import zero_points as zero_points
from .core._codec import decode as decode
from .core._codec import decode_dtype as decode_dtype
from .core._codec import encode as encode
from .core._codec import quantize as quantize
from .core._dispatch import register_codec as register_codec
from .core._codec import values as values
from .core._interop import from_ml_dtypes as from_ml_dtypes
from .core._interop import to_ml_dtypes as to_ml_dtypes
from .core._modes import OVERFLOW_IDS as OVERFLOW_IDS
from .core._modes import OVERFLOWS as OVERFLOWS
from .core._modes import ROUNDING_IDS as ROUNDING_IDS
from .core._modes import ROUNDINGS as ROUNDINGS
from .core._modes import SCALE_RULE_IDS as SCALE_RULE_IDS
from .core._modes import SCALE_RULES as SCALE_RULES
from .core._modes import SPECIAL_IDS as SPECIAL_IDS
from .core._modes import SPECIALS as SPECIALS
from .core._options import Options as Options
from .core._options import make_options as make_options
from .core._packing import pack_codes as pack_codes
from .core._packing import pack_trits as pack_trits
from .core._packing import unpack_codes as unpack_codes
from .core._packing import unpack_trits as unpack_trits
from .core._qarray import QArray as QArray
from .core._records import CodeSet as CodeSet
from .core._records import FloatFormat as FloatFormat
from .core._records import Format as Format
from .core._records import IntFormat as IntFormat
from .core._records import NumberFormat as NumberFormat
from .core._registry import UnknownFormatError as UnknownFormatError
from .core._registry import get as get
from .core._registry import names as names
from .core._registry import p3109 as p3109
from .core._registry import select as select
from .lattice import NestedLatticeFormat as NestedLatticeFormat
from .numsys._lmul import LMUL_VARIANTS as LMUL_VARIANTS
from .numsys._lmul import lmul as lmul
from .numsys._lmul import lmul_codes as lmul_codes
from .numsys._lns import LNSFormat as LNSFormat
from .numsys._lns import LUQFormat as LUQFormat
from .numsys._lns import gaussian_log as gaussian_log
from .numsys._lns import lns_add as lns_add
from .numsys._lns import lns_add_error as lns_add_error
from .numsys._lns import lns_divide as lns_divide
from .numsys._lns import lns_multiply as lns_multiply
from .numsys._lns import lns_subtract as lns_subtract
from .numsys._lns import mitchell_multiply as mitchell_multiply
from .numsys._lns import power_of_two as power_of_two
from .numsys._posit import PositFormat as PositFormat
from .recipes._calibrate import CALIBRATION_METHODS as CALIBRATION_METHODS
from .recipes._calibrate import Calibration as Calibration
from .recipes._calibrate import calibrate as calibrate
from .recipes._hadamard import fwht as fwht
from .recipes._hadamard import hadamard as hadamard
from .recipes._hadamard import hadamard_factors as hadamard_factors
from .recipes._transforms import ROTATIONS as ROTATIONS
from .recipes._transforms import random_orthogonal as random_orthogonal
from .recipes._transforms import rotate as rotate
from .recipes._transforms import smooth as smooth
from .recipes._transforms import smooth_scales as smooth_scales

del _scalar_codec

__all__ = [
    "FloatFormat", "IntFormat", "Format", "NumberFormat", "CodeSet", "UnknownFormatError", "SPECIALS", "get",
    "names", "select", "p3109", "ROUNDINGS", "OVERFLOWS", "Options", "make_options", "ROUNDING_IDS",
    "OVERFLOW_IDS", "SPECIAL_IDS", "SCALE_RULE_IDS", "QArray", "decode_dtype", "MULTIPLIERS",
    "default_accumulator", "LMUL_VARIANTS", "backend", "pack_codes", "unpack_codes", "pack_trits",
    "unpack_trits", "quantize", "encode", "decode", "values", "register_codec", "to_ml_dtypes",
    "from_ml_dtypes", "PositFormat", "LNSFormat", "LUQFormat", "power_of_two", "lns_multiply",
    "lns_divide", "lns_add", "lns_subtract", "lns_add_error", "gaussian_log",
    "mitchell_multiply", "lmul", "lmul_codes", "lattice", "NestedLatticeFormat", "BlockFormat",
    "SCALE_RULES", "block_scales", "bfp", "dynamic_fixed_point", "ScaledIntFormat", "dyadic",
    "requantize", "zero_points", "CodebookFormat", "NF4_LEVELS", "ErrorStats", "error_stats",
    "error_table", "hadamard", "hadamard_factors", "fwht", "rotate", "ROTATIONS", "random_orthogonal",
    "smooth_scales", "smooth", "calibrate", "Calibration", "CALIBRATION_METHODS",
]
