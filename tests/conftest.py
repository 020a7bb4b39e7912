"""Shared test configuration.

1. The packages under test, imported once: under ``LOWBIT_REQUIRE_INSTALLED=1`` (CI) they must
   come from the installed distribution, never from the checkout beside the tests.
2. The ``each_backend`` fixture: a test that takes it runs once per backend of the codecs —
   NumPy vectorized, Numba regardless of size, JAX eager, ``jax.jit`` — through the same calls
   (as gfloat runs each known answer through every implementation).
3. One Hypothesis profile for the whole suite (select with ``HYPOTHESIS_PROFILE=<name>``):
   ``default`` — modest example counts, no deadline (the 2-core CI machine is shared, so
   per-example timing means nothing), no health check on slow data generation;
   ``thorough`` — 10× the examples, for a local hunt for bugs.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from lowbit import formats, hwmodels, simulator

_TESTS = pathlib.Path(__file__).resolve().parent

for _pkg in (formats, hwmodels, simulator):
    assert getattr(_pkg, "__file__", None), f"{_pkg.__name__} resolved to a namespace package"
    # CI (.ci/run) tests the installed package, never the checkout beside the tests
    if os.environ.get("LOWBIT_REQUIRE_INSTALLED"):
        _where = pathlib.Path(_pkg.__file__).resolve()
        assert _TESTS.parent not in _where.parents, f"{_pkg.__name__} imported from the checkout: {_where}"


# ------------------------------------------------------------------------------ backends
#: the backends ``each_backend`` runs a test through
BACKEND_KINDS = ("numpy", "numba", "jax", "jax-jit")


class BackendRunner:
    """Runs a function of arrays on one backend; arguments and results are NumPy arrays (or
    QArrays with NumPy codes), so a test compares them with its known answers as they are.

    * ``"numpy"``: NumPy inputs, the vectorized kernels (``numba_policy("never")``);
    * ``"numba"``: NumPy inputs, the Numba kernels wherever one supports the case, whatever the
      size (``numba_policy("always")``);
    * ``"jax"``: JAX arrays, eager; ``"jax-jit"``: JAX arrays inside ``jax.jit`` (keyword
      arguments are static: closed over). JAX runs with x64 enabled, so that float64 known
      answers keep their precision (the float32, x64-off paths are in test_jax.py).
      ``overflow="error"`` inspects values, which ``jax.jit`` cannot: such calls run eagerly.
    """

    def __init__(self, kind: str):
        self.kind = kind

    def __repr__(self) -> str:
        return f"BackendRunner({self.kind!r})"

    @property
    def is_jax(self) -> bool:
        return self.kind.startswith("jax")

    # -------------------------------------------------------------- conversions
    def _to(self, a):
        import jax.numpy as jnp

        if isinstance(a, formats.QArray):
            conv = [None if v is None else jnp.asarray(v) for v in (a.codes, a.scales, a.tensor_scale)]
            return formats.QArray(codes=conv[0], format=a.format, shape=a.shape, scales=conv[1],
                                  tensor_scale=conv[2], axis=a.axis, meta=a.meta)
        if isinstance(a, np.ndarray | np.generic):
            return jnp.asarray(a)
        return a

    @staticmethod
    def _back(r):
        if isinstance(r, formats.QArray):
            conv = [None if v is None else np.asarray(v) for v in (r.codes, r.scales, r.tensor_scale)]
            return formats.QArray(codes=conv[0], format=r.format, shape=r.shape, scales=conv[1],
                                  tensor_scale=conv[2], axis=r.axis, meta=r.meta)
        if isinstance(r, tuple):
            return tuple(BackendRunner._back(v) for v in r)
        return np.asarray(r)

    # ------------------------------------------------------------------- calls
    def run(self, fn, *arrays, **static):
        """``fn(*arrays, **static)`` on this backend: ``arrays`` (NumPy arrays, QArrays) are
        moved to the backend, ``static`` options are passed as they are."""
        from lowbit.formats.backend import numba_policy

        if not self.is_jax:
            with numba_policy("never" if self.kind == "numpy" else "always"):
                return self._back(fn(*arrays, **static))
        import jax

        with jax.enable_x64(True):
            args = [self._to(a) for a in arrays]
            if self.kind == "jax-jit" and static.get("overflow") != "error":
                out = jax.jit(lambda *a: fn(*a, **static))(*args)
            else:
                out = fn(*args, **static)
            return self._back(out)

    def quantize(self, x, fmt, **opts):
        return self.run(formats.quantize, np.asarray(x), fmt=fmt, **opts)

    def encode(self, x, fmt, **opts):
        return self.run(formats.encode, np.asarray(x), fmt=fmt, **opts)

    def decode(self, q, dtype=None):
        return self.run(formats.decode, q, dtype=dtype)

    def decode_codes(self, codes, fmt, dtype=None):
        """Values of scalar (one code per element) ``codes`` of ``fmt``."""
        fmt = formats.get(fmt)
        codes = np.asarray(codes).astype(formats.backend.code_dtype(fmt.bits))
        return self.decode(formats.QArray(codes=codes, format=fmt, shape=codes.shape), dtype)


@pytest.fixture(params=BACKEND_KINDS)
def each_backend(request) -> BackendRunner:
    """The test runs once per backend (see :class:`BackendRunner`)."""
    return BackendRunner(request.param)


settings.register_profile(
    "default",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
