"""Bit casts between IEEE floats and same-width integers inside Numba-compiled code (LLVM
``bitcast``: exact, NaN payloads kept), shared by every Numba kernel of the project. Imports
Numba."""

from __future__ import annotations

from numba.core import types
from numba.extending import intrinsic

__all__ = ["float_bits", "bits_float"]

_PAIRS = {types.float32: types.int32, types.float64: types.int64}


@intrinsic
def float_bits(typingctx, x):
    """The bit pattern of float32 / float64 ``x`` as int32 / int64."""
    out = _PAIRS.get(x)
    if out is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(out))

    return out(x), codegen


@intrinsic
def bits_float(typingctx, b):
    """The float32 / float64 with bit pattern ``b`` (int32 / int64)."""
    out = next((f for f, i in _PAIRS.items() if i == b), None)
    if out is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(out))

    return out(b), codegen
