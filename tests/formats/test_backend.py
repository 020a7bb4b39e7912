"""The backend module (``formats.backend``): the dispatch table follows the argument, bit casts,
correctly rounded division, code dtypes, the straight-through gradient, and the Numba thresholds
with the policy that forces either side (and the ``each_backend`` fixture built on it)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from lowbit import formats
from lowbit.formats import backend


# ------------------------------------------------------------------ the dispatch table
def test_backend_follows_the_argument():
    assert backend.backend_of(np.zeros(3)) == "numpy"
    assert backend.backend_of(np.float32(1)) == "numpy"
    assert backend.backend_of(np.zeros(2, ml_dtypes.bfloat16)) == "numpy"
    assert backend.backend_of(1.0, [1.0], None) == "numpy"  # no arrays: NumPy
    assert backend.backend_of() == "numpy"
    assert backend.backend_of(jnp.zeros(3)) == "jax"
    assert backend.backend_of(jax.random.key(0)) == "jax"
    # a NumPy array beside a JAX array: JAX wins (its functions take NumPy arrays)
    assert backend.backend_of(np.zeros(3), jnp.zeros(3)) == "jax"
    assert backend.backend_of(jnp.zeros(3), np.zeros(3)) == "jax"
    seen = []
    jax.jit(lambda v: seen.append(backend.backend_of(v)) or v)(jnp.zeros(2))
    assert seen == ["jax"]  # tracers are JAX arrays


def test_namespace():
    assert backend.namespace("numpy") is np
    assert backend.namespace(np.zeros(1)) is np  # NumPy itself, not array_api_compat's wrapper
    assert backend.namespace("jax") is jnp
    assert backend.namespace(jnp.zeros(1)) is jnp
    with pytest.raises(ValueError, match="backend must be one of"):
        backend.namespace("torch")
    assert set(backend.BACKENDS) == {"numpy", "jax"}


def test_backend_of_never_imports_jax():
    code = ("import sys, numpy as np\nfrom lowbit.formats import backend\n"
            "assert backend.backend_of(np.zeros(2), 1.0) == 'numpy'\n"
            "print('jax' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------ array helpers
@pytest.mark.parametrize("lib", ["numpy", "jax"])
@pytest.mark.parametrize("fdt, udt", [("float32", "uint32"), ("float64", "uint64"), ("float16", "uint16")])
def test_bitcast_round_trip_keeps_every_bit(lib, fdt, udt):
    bits = np.array([0, 1, 0x7F, 0x80, 0x7F << 1, 0xFF, 0x1234 & 0xFF, 0xAB], np.uint8)
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=64 * np.dtype(udt).itemsize, dtype=np.uint8)
    raw[: bits.size] = bits
    u = raw.view(udt)  # every pattern, NaN payloads and subnormals included
    with jax.enable_x64(True):
        x = u if lib == "numpy" else jnp.asarray(u)
        f = backend.bitcast(x, fdt)
        assert backend.backend_of(f) == lib and np.dtype(f.dtype) == np.dtype(fdt)
        np.testing.assert_array_equal(np.asarray(f).view(udt), u)  # the same bits as a NumPy view
        np.testing.assert_array_equal(np.asarray(backend.bitcast(f, udt)), u)


def test_bitcast_needs_the_same_width():
    with pytest.raises(ValueError, match="same width"):
        backend.bitcast(np.zeros(2, np.float32), "uint16")


def test_divide_is_correctly_rounded_under_jit():
    """XLA on CPU turns a division by a broadcast divisor into a multiplication by its
    reciprocal; ``divide`` keeps IEEE division (the control shows the plain division differs)."""
    x = (np.random.default_rng(0).random(4096) + 0.5).astype(np.float32)
    d = np.float32(3.0)
    want = x / d  # NumPy: IEEE division, correctly rounded
    plain = np.asarray(jax.jit(lambda a: a / d)(jnp.asarray(x)))
    assert (plain != want).any(), "control: XLA's division by a constant is no longer off by an ulp"
    got = np.asarray(jax.jit(lambda a: backend.divide(a, d))(jnp.asarray(x)))
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(backend.divide(x, d), want)
    # non-finite dividends pass through
    special = np.array([np.inf, -np.inf, np.nan, 0.0], np.float32)
    np.testing.assert_array_equal(np.asarray(backend.divide(jnp.asarray(special), d)), special / d)


def test_code_dtype():
    assert [backend.code_dtype(b) for b in (1, 8, 9, 16, 17, 32, 33, 64)] == [
        np.uint8, np.uint8, np.uint16, np.uint16, np.uint32, np.uint32, np.uint64, np.uint64]
    assert backend.code_dtype(4, jnp) is jnp.uint8
    for bad in (0, 65, 8.0, True, "8"):
        with pytest.raises(ValueError, match="bits must be an int"):
            backend.code_dtype(bad)


def test_straight_through():
    x = np.array([0.3, 1.7], np.float32)
    q = np.round(x)
    assert backend.straight_through(x, q) is q  # NumPy: the values, nothing else
    g = jax.grad(lambda v: (backend.straight_through(v, jnp.round(v)) * jnp.arange(2.0)).sum())(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 1.0])  # identity, not round's zero derivative
    out = jax.jit(lambda v: backend.straight_through(v, jnp.round(v)))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(out), q)


@pytest.mark.parametrize("fmt", ["float8_e4m3fn", "int4", "mxfp4", "nvfp4", "posit8", "lns8", "nf4",
                                 "ternary_absmean"])
def test_every_family_quantizes_with_the_straight_through_gradient(fmt):
    x = jnp.asarray(np.linspace(-3, 3, 64, dtype=np.float32))
    g = jax.grad(lambda v: (formats.quantize(v, fmt) * 2.0).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.full(64, 2.0, np.float32))
    gj = jax.jit(jax.grad(lambda v: formats.quantize(v, fmt).sum()))(x)
    np.testing.assert_array_equal(np.asarray(gj), np.ones(64, np.float32))


# ------------------------------------------------------------------- Numba thresholds
def test_numba_policy_decides_use_numba():
    t = backend.NUMBA_THRESHOLDS["codec"]
    assert not backend.use_numba("codec", t - 1) and backend.use_numba("codec", t)
    with backend.numba_policy("always"):
        assert backend.use_numba("codec", 1) and backend.use_numba("lmul", 0)
        with backend.numba_policy("never"):
            assert not backend.use_numba("codec", 1 << 40)
        assert backend.use_numba("gemm", 1)  # restored on exit
        # "specialize" chooses between two Numba loops: it follows its threshold
        assert not backend.use_numba("specialize", 1)
    assert not backend.use_numba("codec", 1)
    with pytest.raises(ValueError, match="policy must be one of"):
        with backend.numba_policy("sometimes"):
            pass
    with pytest.raises(ValueError, match="kernel must be one of"):
        backend.use_numba("nope", 1)
    with backend.numba_policy("auto", thresholds={"codec": 4, "specialize": 0}):
        assert backend.use_numba("codec", 4) and not backend.use_numba("codec", 3)
        assert backend.use_numba("specialize", 0)
    assert backend.use_numba("codec", 4) is False
    for bad in ({"nope": 1}, {"codec": -1}, {"codec": 1.5}, {"codec": True}):
        with pytest.raises(ValueError, match="thresholds"):
            with backend.numba_policy("auto", thresholds=bad):
                pass


@pytest.mark.parametrize("policy, size, loaded", [("always", 8, True), ("never", 1 << 17, False),
                                                  ("auto", 8, False), ("auto", 1 << 17, True)])
def test_numba_policy_reaches_the_kernels(policy, size, loaded):
    """Observed from outside: the scalar codec's Numba module is imported exactly when the
    policy (or, for auto, the size) says so."""
    code = ("import sys, numpy as np\nfrom lowbit import formats\n"
            f"x = np.linspace(-9, 9, {size}, dtype=np.float32)\n"
            f"with formats.backend.numba_policy({policy!r}):\n"
            "    formats.quantize(x, 'float8_e4m3fn')\n"
            "print('lowbit.formats.scalar._numba_kernels' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(loaded)


def test_every_threshold_has_its_bench_case():
    """Each entry of the table is measured by a case of ``lowbit bench thresholds``."""
    from lowbit.simulator.bench import _thresholds

    assert set(_thresholds.CASES) == set(backend.NUMBA_THRESHOLDS)
    src = (pathlib.Path(formats.__file__).parent / "core" / "_backend.py").read_text()
    for kernel, case in _thresholds.CASES.items():
        assert f'bench case "{case}"' in src, f"the comment of {kernel!r} names its bench case {case!r}"


# ---------------------------------------------------------------- the each_backend fixture
def test_each_backend_runs_where_it_says(each_backend, monkeypatch):
    """The fixture's runners take the path they name (a positive control for the known-answer
    tables that use it)."""
    from lowbit.formats.scalar import _numba_kernels as nk

    calls = []
    real = nk.quantize_array
    monkeypatch.setattr(nk, "quantize_array", lambda *a, **k: calls.append(1) or real(*a, **k))
    seen = []

    def probe(v, fmt):
        seen.append((backend.backend_of(v), isinstance(v, jax.core.Tracer)))
        return formats.quantize(v, fmt)

    out = each_backend.run(probe, np.array([1.3, -500.0], np.float32), fmt="float8_e4m3fn")
    np.testing.assert_array_equal(out, np.array([1.25, np.nan], np.float32))
    lib, traced = seen[0]
    assert lib == ("jax" if each_backend.is_jax else "numpy")
    assert traced == (each_backend.kind == "jax-jit")
    assert bool(calls) == (each_backend.kind == "numba")
