"""Scalar codec kernels as Numba-compiled functions, for use inside your own ``@numba.njit`` code.

Build the parameter tuple once, outside the compiled code, then call the kernels inside it::

    import numba, numpy as np
    from lowbit.formats import numba as fnb

    P = fnb.params("float8_e4m3fn", rounding="nearest_even")   # a tuple of ints

    @numba.njit
    def fake_quant_sum(xs, P):
        acc = 0.0
        for x in xs:
            acc += fnb.quantize_scalar(x, P)
        return acc

    fake_quant_sum(np.random.randn(1000), P)

The scalar kernels take and return float64 (Python float) values; they are bit-identical to
:func:`formats.quantize` / :func:`formats.encode` / :func:`formats.decode` on float64 inputs.
For ``rounding="stochastic"`` pass the random integer ``r`` (uniform in [0, 2**random_bits)).

:func:`float_bits` and :func:`bits_float` reinterpret a float32/float64 as its int32/int64 bit
pattern and back inside compiled code (LLVM ``bitcast``: exact, NaN payloads kept) — the bit
casts every Numba kernel of lowbit uses; outside compiled code use
:func:`formats.backend.bitcast`. Importing this module imports Numba.
"""

from .core._numba_bits import bits_float as bits_float
from .core._numba_bits import float_bits as float_bits
from .scalar._numba_api import decode_params as decode_params
from .scalar._numba_api import decode_scalar as decode_scalar
from .scalar._numba_api import encode_scalar as encode_scalar
from .scalar._numba_api import params as params
from .scalar._numba_api import quantize_scalar as quantize_scalar

__all__ = ["params", "decode_params", "quantize_scalar", "encode_scalar", "decode_scalar", "float_bits",
           "bits_float"]
