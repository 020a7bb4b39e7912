"""The backend module: everything that depends on which array library holds the data.

The backend follows the argument: NumPy in → NumPy out, JAX in → JAX out. This module is the
one place that knows the array libraries:

* :data:`BACKENDS`, the dispatch table (NumPy and JAX today; PyTorch joins it as one more
  entry), and :func:`backend_of` / :func:`namespace`, which find the entry of an argument with
  ``array_api_compat.array_namespace`` — without importing JAX or PyTorch: an array of a library
  that was never imported cannot exist;
* :func:`bitcast` between floats and same-width unsigned integers, :func:`divide` (correctly
  rounded division on every backend), :func:`code_dtype` (the unsigned dtype of codes),
  :func:`straight_through` (the straight-through gradient of fake quantization), :func:`raise_if`
  (an error for a condition on values, where the values can be inspected);
* :data:`NUMBA_THRESHOLDS`, the one table of sizes above which NumPy inputs run through Numba
  kernels, each entry tied to the ``lowbit bench thresholds`` case that measures it, with
  :func:`use_numba` (the decision) and :func:`numba_policy` (to force one side, e.g. in tests).

Kernels are written once against a namespace ``xp`` (``numpy`` or ``jax.numpy``); they get it
from :func:`namespace`. Backend-specific modules (``*_jax.py``, ``*_numba.py``) are imported
lazily, only when an array of that library arrives.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType, ModuleType
from typing import Any, Literal

import numpy as np

__all__ = ["Backend", "BACKENDS", "backend_of", "namespace", "bitcast", "divide", "code_dtype",
           "straight_through", "raise_if", "float64_available", "NUMBA_THRESHOLDS",
           "NUMBA_POLICIES", "use_numba", "numba_policy"]


# ============================================================================ the dispatch table
def _numpy_namespace() -> ModuleType:
    return np


def _jax_namespace() -> ModuleType:
    import jax.numpy as jnp

    return jnp


def _numpy_bitcast(x, dtype):
    return x.view(dtype)


def _jax_bitcast(x, dtype):
    from jax import lax

    return lax.bitcast_convert_type(x, np.dtype(dtype))


def _numpy_straight_through(x, q):
    return q


@functools.cache
def _jax_ste():
    import jax

    @jax.custom_jvp
    def ste(x, q):
        return q

    @ste.defjvp
    def _ste_jvp(primals, tangents):
        return primals[1], tangents[0]

    return ste


def _jax_straight_through(x, q):
    from jax import lax

    return _jax_ste()(x, lax.stop_gradient(q))


def _numpy_float64(_x=None) -> bool:
    return True


def _jax_float64(_x=None) -> bool:
    import jax

    return bool(jax.config.read("jax_enable_x64"))


def _is_numpy(x) -> bool:
    import array_api_compat

    return array_api_compat.is_numpy_array(x)


def _is_jax(x) -> bool:
    if "jax" not in sys.modules:  # no JAX array can exist
        return False
    import array_api_compat

    return array_api_compat.is_jax_array(x)  # tracers and PRNG key arrays included


@dataclasses.dataclass(frozen=True)
class Backend:
    """One array library in the dispatch table.

    Attributes:
        name: ``"numpy"`` or ``"jax"`` (the value :func:`backend_of` returns).
        is_array: whether an object is an array of this library (never imports the library).
        namespace: the namespace kernels are written against (``numpy`` itself — not
            array_api_compat's wrapper, so that ``frexp``/``ldexp``/``view`` stay available —
            or ``jax.numpy``); imports the library.
        bitcast: reinterpret the bits of an array as another dtype of the same width.
        straight_through: ``(x, q) -> q`` with the derivative of the identity in ``x``.
        float64: whether float64 arrays are available (JAX: only with ``jax_enable_x64``).
    """

    name: str
    is_array: Callable[[Any], bool]
    namespace: Callable[[], ModuleType]
    bitcast: Callable[[Any, Any], Any]
    straight_through: Callable[[Any, Any], Any]
    float64: Callable[[], bool]


#: The dispatch table, name → :class:`Backend`. NumPy first: an array of another library wins
#: over NumPy arrays in :func:`backend_of`. A PyTorch entry joins with ``is_array`` =
#: ``array_api_compat.is_torch_array``, ``x.view(dtype)`` as bit cast and an
#: ``autograd.Function`` as straight-through gradient.
BACKENDS: Mapping[str, Backend] = MappingProxyType({
    "numpy": Backend("numpy", _is_numpy, _numpy_namespace, _numpy_bitcast, _numpy_straight_through,
                     _numpy_float64),
    "jax": Backend("jax", _is_jax, _jax_namespace, _jax_bitcast, _jax_straight_through, _jax_float64),
})


def _backend_name(x) -> str | None:
    """The table entry holding ``x``, or None for non-arrays (Python scalars, lists, None)."""
    if type(x) is np.ndarray:  # the common case, without a table walk
        return "numpy"
    for b in BACKENDS.values():
        if b.is_array(x):
            return b.name
    return None


def backend_of(*arrays: Any) -> str:
    """The backend (``"numpy"`` or ``"jax"``) that holds ``arrays``.

    Python scalars, lists and None are no arrays and are ignored (they become NumPy arrays
    where an array is needed); NumPy scalars count as NumPy arrays. When arrays of NumPy and of
    another library are mixed, the other library wins (its functions accept NumPy arrays). Arrays
    of a library outside :data:`BACKENDS` are read as NumPy arrays (``numpy.asarray``).

    Never imports JAX: an array of a library that was never imported cannot exist.

    Raises:
        TypeError: for arrays of two non-NumPy libraries.
    """
    found = None
    for a in arrays:
        name = _backend_name(a)
        if name is None or name == found:
            continue
        if found is None or found == "numpy":
            found = name
        elif name != "numpy":
            raise TypeError(f"arrays of two array libraries ({found} and {name}) in one call; "
                            "convert them to one library first")
    return found or "numpy"


def namespace(backend: str | Any = "numpy") -> ModuleType:
    """The array namespace kernels use for ``backend`` — a name in :data:`BACKENDS` — or for
    the backend of an array: ``numpy`` or ``jax.numpy``.

    Raises:
        ValueError: an unknown backend name.
    """
    name = backend if isinstance(backend, str) else backend_of(backend)
    entry = BACKENDS.get(name)
    if entry is None:
        raise ValueError(f"backend must be one of {tuple(BACKENDS)}, got {backend!r}")
    return entry.namespace()


def _entry(*arrays) -> Backend:
    return BACKENDS[backend_of(*arrays)]


def float64_available(backend: str) -> bool:
    """Whether ``backend`` has float64 arrays (JAX only with ``jax_enable_x64``)."""
    return BACKENDS[backend].float64()


# ============================================================================ array helpers
def bitcast(x: Any, dtype: Any) -> Any:
    """The bits of array ``x`` as ``dtype``, a dtype of the same width (float32 ↔ uint32/int32,
    float64 ↔ uint64/int64, float16/bfloat16 ↔ uint16): exact, NaN payloads kept, in ``x``'s
    array library (NumPy ``view``, JAX ``lax.bitcast_convert_type``). Inside compiled Numba code
    use :func:`formats.numba.float_bits` / :func:`formats.numba.bits_float`.

    Raises:
        ValueError: when ``dtype`` has another width than ``x``'s dtype.
    """
    dt = np.dtype(dtype)
    if dt.itemsize != np.dtype(x.dtype).itemsize:
        raise ValueError(f"bitcast needs a dtype of the same width: {x.dtype} is "
                         f"{np.dtype(x.dtype).itemsize * 8} bits, {dt} is {dt.itemsize * 8}")
    return _entry(x).bitcast(x, dt)


def divide(a: Any, b: Any) -> Any:
    """``a / b`` correctly rounded (IEEE 754 division) on every backend.

    XLA's CPU backend turns a division by a constant or by a broadcast divisor into a
    multiplication by the reciprocal (off by an ulp for ~40% of quotients). A per-element
    divisor that XLA cannot fold (b + (t − t), t finite per element) keeps the true division.
    NumPy divides as it is.
    """
    be = backend_of(a, b)
    if be == "numpy":
        return a / b
    xp = namespace(be)
    shape = xp.broadcast_shapes(xp.shape(a), xp.shape(b))
    a = xp.broadcast_to(a, shape)
    t = xp.where(xp.isfinite(a), a, xp.zeros((), a.dtype))
    return a / (xp.broadcast_to(b, shape).astype(a.dtype) + (t - t))


def code_dtype(bits: int, xp: ModuleType = np) -> Any:
    """The unsigned integer dtype that holds ``bits``-bit codes: uint8 up to 8 bits, uint16 up to
    16, uint32 up to 32, uint64 up to 64 — of namespace ``xp`` (NumPy by default).

    Raises:
        ValueError: ``bits`` not an int in [1, 64].
    """
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 64:
        raise ValueError(f"bits must be an int in [1, 64], got {bits!r}")
    return xp.uint8 if bits <= 8 else xp.uint16 if bits <= 16 else xp.uint32 if bits <= 32 else xp.uint64


def straight_through(x: Any, q: Any) -> Any:
    """``q`` (computed from ``x``: its quantized values), differentiable as the identity in
    ``x``: the straight-through estimator of fake quantization. The derivative of ``q``'s own
    computation is never formed. NumPy: ``q`` itself. JAX: a ``jax.custom_jvp`` (jit-, vmap-
    and grad-safe)."""
    return _entry(x, q).straight_through(x, q)


def raise_if(xp: ModuleType, mask: Any, exc: Exception) -> None:
    """Raise ``exc`` if any element of boolean ``mask`` is set.

    Raises:
        exc: when a masked element is set.
        ValueError: inside ``jax.jit``, where the values cannot be inspected (the message says
            which options are available there).
    """
    if xp is np:
        if np.any(mask):
            raise exc
        return
    import jax

    try:
        hit = bool(xp.any(mask))
    except jax.errors.ConcretizationTypeError:
        raise ValueError(
            "overflow='error' needs concrete values; it cannot be used inside jax.jit "
            "(use 'saturate', 'inf' or 'nan' there)"
        ) from None
    if hit:
        raise exc


# ============================================================================ Numba thresholds
#: Sizes from which NumPy inputs run through the parallel Numba kernels instead of the NumPy
#: vectorized code (and, for ``"specialize"``, through a loop compiled for the one format).
#: Below a threshold the vectorized code is as fast or faster (Numba's per-call and thread-pool
#: overhead dominates). Each entry is measured by a case of ``lowbit bench thresholds``
#: (``simulator/bench/_thresholds.py``), which times both sides at a quarter, one and four times
#: the threshold; rerun it on new hardware and change the entry here.
NUMBA_THRESHOLDS: Mapping[str, int] = MappingProxyType({
    # elements of x: quantize/encode of scalar formats and of block formats (fused loops).
    # bench case "codec: quantize float32 to float8_e4m3fn".
    "codec": 1 << 15,
    # elements of the broadcast product: formats.lmul / lmul_codes.
    # bench case "lmul: bfloat16 products".
    "lmul": 1 << 16,
    # elements of x: a parallel loop compiled for one format and its options (LLVM folds every
    # format branch) instead of the generic loop — worth its one-time compilation (about a
    # second per format and options, then cached on disk) only for large inputs.
    # bench case "specialize: encode float32 to bfloat16".
    "specialize": 1 << 20,
    # multiply-adds (output elements × terms): simulator.matmul's sequential float accumulation
    # in the compiled GEMM kernel instead of the vectorized loop over K.
    # bench case "gemm: float8_e4m3fn operands, bfloat16 accumulator".
    "gemm": 1 << 14,
})

#: Values of :func:`numba_policy`.
NUMBA_POLICIES = ("auto", "always", "never")

_POLICY: contextvars.ContextVar[tuple[str, Mapping[str, int]]] = contextvars.ContextVar(
    "lowbit_numba_policy", default=("auto", NUMBA_THRESHOLDS))


def use_numba(kernel: str, size: int) -> bool:
    """Whether a NumPy input of ``size`` (elements, or multiply-adds for ``"gemm"``) takes the
    Numba kernel ``kernel`` (a key of :data:`NUMBA_THRESHOLDS`), under the current
    :func:`numba_policy`: ``"auto"`` compares with the threshold, ``"always"`` says yes and
    ``"never"`` no whatever the size. ``"specialize"`` chooses between two Numba loops and
    always follows its threshold. (Callers still check that the kernel supports the case.)

    Raises:
        ValueError: an unknown ``kernel``.
    """
    if kernel not in NUMBA_THRESHOLDS:
        raise ValueError(f"kernel must be one of {tuple(NUMBA_THRESHOLDS)}, got {kernel!r}")
    policy, thresholds = _POLICY.get()
    if kernel == "specialize" or policy == "auto":
        return size >= thresholds[kernel]
    return policy == "always"


@contextlib.contextmanager
def numba_policy(policy: Literal["auto", "always", "never"] = "auto", *,
                 thresholds: Mapping[str, int] | None = None) -> Iterator[None]:
    """Within the ``with`` block, NumPy inputs take the Numba kernels ``"always"`` (wherever a
    kernel supports the case, regardless of size), ``"never"`` (the NumPy vectorized code) or
    ``"auto"`` (from the sizes of :data:`NUMBA_THRESHOLDS`, the default). Results are
    bit-identical either way; tests use it to run known answers through both, ``lowbit bench
    thresholds`` to time both sides.

    Args:
        policy: one of :data:`NUMBA_POLICIES`.
        thresholds: entries of :data:`NUMBA_THRESHOLDS` to replace inside the block (for
            ``"auto"``, and always for ``"specialize"``), e.g. ``{"specialize": 0}``.

    Context-local: threads and asyncio tasks started inside keep their own setting.

    Raises:
        ValueError: an unknown ``policy``, or a threshold that is not a known kernel with a
            non-negative int size.
    """
    if policy not in NUMBA_POLICIES:
        raise ValueError(f"policy must be one of {NUMBA_POLICIES}, got {policy!r}")
    table = dict(_POLICY.get()[1])
    for kernel, size in (thresholds or {}).items():
        if kernel not in NUMBA_THRESHOLDS:
            raise ValueError(f"thresholds: kernel must be one of {tuple(NUMBA_THRESHOLDS)}, got {kernel!r}")
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"thresholds: {kernel!r} must be a non-negative int, got {size!r}")
        table[kernel] = int(size)
    token = _POLICY.set((policy, MappingProxyType(table)))
    try:
        yield
    finally:
        _POLICY.reset(token)
