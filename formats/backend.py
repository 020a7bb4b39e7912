"""Array-library backends: what the codecs use to follow the argument, for code built on them.

``lowbit`` works on NumPy and JAX arrays (PyTorch joins as one more entry of :data:`BACKENDS`):
NumPy in → NumPy out, JAX in → JAX out, inside ``jax.jit`` too. Code written once against an
array namespace ``xp`` — such as the GEMM emulator of ``lowbit.simulator`` — uses these helpers
for the few operations that differ between the libraries::

    from lowbit.formats import backend

    xp = backend.namespace(x)                   # numpy or jax.numpy, following x
    bits = backend.bitcast(x, "uint32")         # float32 -> its bit patterns, any backend
    q = backend.straight_through(x, my_round(x))  # identity gradient under jax.grad

NumPy inputs of large arrays run through parallel Numba kernels; :data:`NUMBA_THRESHOLDS`
holds the sizes (each measured by ``lowbit bench thresholds``), :func:`use_numba` makes the
decision and :func:`numba_policy` forces one side::

    with backend.numba_policy("always"):        # Numba kernels even for tiny inputs
        formats.quantize(x, "float8_e4m3fn")

Importing this module loads neither JAX nor Numba.
"""

from .core._backend import BACKENDS as BACKENDS
from .core._backend import NUMBA_POLICIES as NUMBA_POLICIES
from .core._backend import NUMBA_THRESHOLDS as NUMBA_THRESHOLDS
from .core._backend import Backend as Backend
from .core._backend import backend_of as backend_of
from .core._backend import bitcast as bitcast
from .core._backend import code_dtype as code_dtype
from .core._backend import divide as divide
from .core._backend import float64_available as float64_available
from .core._backend import namespace as namespace
from .core._backend import numba_policy as numba_policy
from .core._backend import straight_through as straight_through
from .core._backend import use_numba as use_numba

__all__ = ["BACKENDS", "Backend", "backend_of", "namespace", "bitcast", "divide", "code_dtype",
           "straight_through", "float64_available", "NUMBA_THRESHOLDS", "NUMBA_POLICIES",
           "use_numba", "numba_policy"]
