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
from ._codec import quantize as quantize
from ._codec import encode as encode
from ._codec import decode as decode
from ._codec import values as values
from ._codec import register_codec as register_codec
from ._interop import to_ml_dtypes as to_ml_dtypes
from ._interop import from_ml_dtypes as from_ml_dtypes

__all__ = [
    "FloatFormat", "IntFormat", "Format", "SPECIALS", "get", "names", "select", "p3109",
    "ROUNDINGS", "OVERFLOWS", "QArray", "pack_codes", "unpack_codes", "quantize", "encode",
    "decode", "values", "register_codec", "to_ml_dtypes", "from_ml_dtypes",
]
