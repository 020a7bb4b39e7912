"""Hadamard matrices and the fast Walsh–Hadamard transform, with randomized signs (RHT).

QuaRot (Ashkboos et al., arXiv 2404.00456, §3–4) and SpinQuant (Liu et al., arXiv 2405.16406)
rotate activations and weights by an orthonormal Hadamard matrix H/√n before quantizing: the
rotation spreads outlier channels over all channels, and it folds into the weights (X·H)(Hᵀ·W)
= X·W. Hidden sizes that are not powers of two (Llama-2-7B's MLP: 11008 = 172·64, Llama-3-8B's:
14336 = 28·512) use H_n = H_m ⊗ H_(2^k) with a Hadamard matrix H_m of a small base order m,
applied as a fast transform over the 2^k part and an m×m product over the rest — QuaRot's
``matmul_hadU`` and the ``fast_hadamard_transform`` 12N/20N/28N/40N kernels do the same.

Every base matrix is built by code (no pasted matrices):

* Sylvester (1867): H_1 = [1], H_2k = [[H_k, H_k], [H_k, −H_k]] — "natural" order, symmetric;
* Paley I (R.E.A.C. Paley, "On orthogonal matrices", J. Math. Phys. 12, 1933): q a prime power,
  q ≡ 3 (mod 4), order q + 1 — H = I + [[0, 1ᵀ], [−1, Q]] with the Jacobsthal matrix
  Q[a, b] = χ(a − b), χ the quadratic character of GF(q);
* Paley II (same paper): q ≡ 1 (mod 4), order 2(q + 1) — the symmetric conference matrix
  S = [[0, 1ᵀ], [1, Q]] with each 0 replaced by [[1, −1], [−1, −1]] and each ±1 by ±[[1, 1],
  [1, −1]];
* Williamson (1944): orders 156 = 4·39 and 172 = 4·43 (no Paley construction exists for
  either) from four circulant matrices whose first rows are stored in ``williamson.txt`` with
  their source.

So n = 2^k·m is supported for m = 1, for every m = q + 1 (q ≡ 3 mod 4) and m = 2(q + 1)
(q ≡ 1 mod 4) with q a prime power, and for m ∈ {156, 172} — all the base sizes QuaRot and
SpinQuant ship (12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172) and more. The smallest such m
is used (the largest power-of-two part: the cheapest transform).
"""

from __future__ import annotations

import functools
import math
import pathlib
from typing import Any

import numpy as np

from ..core._backend import backend_of, namespace
from ..core._options import as_numpy_array

__all__ = ["hadamard", "fwht", "hadamard_factors", "random_signs"]

_FLOATS = ("float16", "bfloat16", "float32", "float64")


# ------------------------------------------------------------------------------ base matrices
def _prime_power(q: int) -> tuple[int, int] | None:
    """(p, k) with q = p^k, p prime, or None."""
    if q < 2:
        return None
    p = next((d for d in range(2, math.isqrt(q) + 1) if q % d == 0), q)
    k = 0
    while q % p == 0:
        q //= p
        k += 1
    return (p, k) if q == 1 else None


def _polymulmod(a, b, f, p):
    """a·b mod (f, p) for coefficient lists (lowest degree first), f monic of degree k."""
    k = len(f) - 1
    out = [0] * (2 * k - 1)
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                out[i + j] = (out[i + j] + ai * bj) % p
    for d in range(len(out) - 1, k - 1, -1):  # reduce by the monic f
        c = out[d]
        if c:
            for j in range(k + 1):
                out[d - k + j] = (out[d - k + j] - c * f[j]) % p
    return out[:k]


def _irreducible(p: int, k: int) -> list[int]:
    """The first monic irreducible polynomial of degree k over GF(p) (coefficients, lowest
    first): no monic factor of degree 1 … k//2 (trial division by every such polynomial)."""
    def divides(g, f):
        r = list(f)
        dg = len(g) - 1
        for d in range(len(r) - 1, dg - 1, -1):
            c = r[d]
            if c:
                for j in range(dg + 1):
                    r[d - dg + j] = (r[d - dg + j] - c * g[j]) % p
        return not any(r[:dg])

    def monic(deg):
        for t in range(p ** deg):
            yield [(t // p ** i) % p for i in range(deg)] + [1]

    for f in monic(k):
        if all(not divides(g, f) for d in range(1, k // 2 + 1) for g in monic(d)):
            return f
    raise AssertionError("unreachable: irreducible polynomials exist for every degree")  # pragma: no cover


def _jacobsthal(q: int) -> np.ndarray:
    """Q[a, b] = χ(a − b) over GF(q), elements numbered by their base-p digits (polynomial
    coefficients); χ(0) = 0, χ = 1 on the non-zero squares, −1 elsewhere."""
    pk = _prime_power(q)
    if pk is None:
        raise ValueError(f"{q} is not a prime power")
    p, k = pk
    digits = np.array([[(e // p ** i) % p for i in range(k)] for e in range(q)], dtype=np.int64)
    weights = p ** np.arange(k, dtype=np.int64)
    if k == 1:
        squares = {(e * e) % p for e in range(1, p)}
    else:
        f = _irreducible(p, k)
        squares = {int(np.dot(_polymulmod(list(d), list(d), f, p), weights)) for d in digits[1:]}
    chi = np.full(q, -1, dtype=np.int8)
    chi[0] = 0
    chi[sorted(squares)] = 1
    diff = (digits[:, None, :] - digits[None, :, :]) % p
    return chi[diff @ weights]


@functools.cache
def _williamson_rows() -> dict[int, tuple[np.ndarray, ...]]:
    rows = {}
    text = (pathlib.Path(__file__).with_name("williamson.txt")).read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        n, *seqs = line.split()
        rows[int(n)] = tuple(np.array([1 if c == "+" else -1 for c in s], dtype=np.int8) for s in seqs)
    return rows


def _circulant(row: np.ndarray) -> np.ndarray:
    n = row.size
    return row[(np.arange(n)[None, :] - np.arange(n)[:, None]) % n]


def _base_kind(m: int) -> str | None:
    """How a Hadamard matrix of order m is built here ('sylvester', 'paley1', 'paley2',
    'williamson') or None."""
    if m == 1:
        return "sylvester"
    if m % 4:
        return None
    pk = _prime_power(m - 1)
    if pk is not None and (m - 1) % 4 == 3:
        return "paley1"
    pk = _prime_power(m // 2 - 1)
    if pk is not None and (m // 2 - 1) % 4 == 1:
        return "paley2"
    if m // 4 in _williamson_rows():
        return "williamson"
    return None


@functools.lru_cache(maxsize=64)
def _base(m: int) -> np.ndarray:
    """The (unnormalized, ±1, int8, read-only) Hadamard matrix of base order m."""
    kind = _base_kind(m)
    if kind == "sylvester":
        H = np.ones((1, 1), dtype=np.int8)
    elif kind == "paley1":
        q = m - 1
        S = np.zeros((m, m), dtype=np.int8)
        S[0, 1:] = 1
        S[1:, 0] = -1
        S[1:, 1:] = _jacobsthal(q)
        H = (S + np.eye(m, dtype=np.int8)).astype(np.int8)
    elif kind == "paley2":
        q = m // 2 - 1
        S = np.zeros((q + 1, q + 1), dtype=np.int8)
        S[0, 1:] = 1
        S[1:, 0] = 1
        S[1:, 1:] = _jacobsthal(q)
        one = np.array([[1, 1], [1, -1]], dtype=np.int8)
        zero = np.array([[1, -1], [-1, -1]], dtype=np.int8)
        H = np.kron(S, one) + np.kron((S == 0).astype(np.int8), zero)
    elif kind == "williamson":
        A, B, C, D = (_circulant(r) for r in _williamson_rows()[m // 4])
        H = np.block([[A, B, C, D], [-B, A, -D, C], [-C, D, A, -B], [-D, -C, B, A]])
    else:
        raise ValueError(f"no Hadamard matrix of base order {m} is built here")
    H = np.ascontiguousarray(H, dtype=np.int8)
    H.setflags(write=False)
    return H


def hadamard_factors(n: int) -> tuple[int, int]:
    """The factorization n = m · 2^k that :func:`hadamard` and :func:`fwht` use.

    Args:
        n: the transform size (a positive int).

    Returns:
        ``(m, 2**k)``: the base order m (1 for powers of two; the smallest base order this
        module builds that leaves a power-of-two quotient) and the power-of-two part.

    Raises:
        ValueError: if ``n`` is not a positive int or no supported factorization exists (the
            message says which sizes are supported).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    n = int(n)
    t = (n & -n).bit_length() - 1  # n = odd · 2^t
    odd = n >> t
    for j in range(t + 1):
        m = odd << j
        if _base_kind(m) is not None:
            return m, n // m
    raise ValueError(
        f"no Hadamard matrix of order {n} is built here: n must be m·2^k with m = 1, m = q + 1 "
        "(q a prime power ≡ 3 mod 4), m = 2(q + 1) (q a prime power ≡ 1 mod 4), or m in (156, 172) — "
        "e.g. 12, 20, 28, 36, 40, 52, 60, 108, 140, 156, 172 times a power of two")


# ------------------------------------------------------------------------------ random signs
def random_signs(n: int, key, backend: str | None = None):
    """n random signs ±1 (int8) for the randomized Hadamard transform, or None for key None.

    ``key``: an int seed or a ``numpy.random.Generator`` (NumPy signs: the same seed gives the
    same signs everywhere, JAX included); a JAX PRNG key (``jax.random.key``: JAX signs, also
    under ``jax.jit``); or the signs themselves, an array of n values ±1.

    Raises:
        ValueError: explicit signs of the wrong shape or with values other than ±1 (a legacy
            ``jax.random.PRNGKey`` is a uint32 array: it lands here — use ``jax.random.key``).
        TypeError: any other ``key``.
    """
    if key is None:
        return None
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        key = np.random.default_rng(int(key))
    if isinstance(key, np.random.Generator):
        s = (1 - 2 * key.integers(0, 2, size=n)).astype(np.int8)
        if backend == "jax":
            import jax.numpy as jnp

            return jnp.asarray(s)
        return s
    kb = backend_of(key)
    if kb == "jax":
        import jax

        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            return jax.random.rademacher(key, (n,), dtype=jax.numpy.int8)
    if isinstance(key, np.ndarray) or kb == "jax":
        xp = namespace(kb)
        if tuple(key.shape) != (n,):
            raise ValueError(f"key: explicit signs must have shape ({n},), got {tuple(key.shape)}")
        if np.dtype(key.dtype).kind not in "fiu":
            raise TypeError(f"key: explicit signs must be numbers ±1, got dtype {key.dtype}")
        from ..core._static import _concrete_all

        if _concrete_all(xp, (key == 1) | (key == -1)) is False:
            raise ValueError("key: explicit signs must all be +1 or -1 (a legacy jax.random.PRNGKey is a "
                             "uint32 array: use jax.random.key)")
        s = key.astype(xp.int8)
        if backend == "jax" and kb == "numpy":
            import jax.numpy as jnp

            return jnp.asarray(s)
        return np.asarray(s) if backend == "numpy" else s
    raise TypeError(f"key must be None, an int seed, a numpy.random.Generator, a JAX PRNG key or an array of "
                    f"±1 signs, got {type(key).__name__}")


# ------------------------------------------------------------------------------ public verbs
def hadamard(n: int, *, key: Any = None, normalized: bool = True, dtype: Any = None) -> Any:
    """An orthonormal Hadamard matrix of order n: H/√n with H ∈ {±1}^(n×n), H·Hᵀ = n·I.

    H = H_m ⊗ H_(2^k) (:func:`hadamard_factors`): Sylvester's matrix for powers of two (natural
    order, symmetric), a Paley or Williamson base matrix otherwise (see the module notes). With
    ``key``, the rows are multiplied by random signs: diag(s)·H/√n, the randomized Hadamard
    transform of QuaRot (arXiv 2404.00456, §4) — still orthonormal; ``x @ hadamard(n, key=k)``
    equals ``fwht(x, key=k)``.

    Args:
        n: the order (see :func:`hadamard_factors` for the supported sizes).
        key: None, an int seed, a ``numpy.random.Generator``, a JAX PRNG key or n explicit ±1
            signs (see :func:`random_signs`). A JAX key gives a JAX array.
        normalized: divide by √n (orthonormal, default) or keep the ±1 entries.
        dtype: result dtype; default float64 (NumPy) or JAX's default float. An integer dtype
            needs ``normalized=False``.

    Returns:
        An n×n array (NumPy, or JAX for a JAX key). Mind the size: n = 14336 is 1.6 GB in
        float64; :func:`fwht` applies the same matrix in O(n log n) without building it.

    Raises:
        ValueError: an unsupported ``n``, an integer ``dtype`` with ``normalized=True``, bad
            explicit signs.
        TypeError: a ``key`` of another kind.
    """
    m, p2 = hadamard_factors(n)
    if not isinstance(normalized, bool):
        raise TypeError(f"normalized must be a bool, got {normalized!r}")
    backend = "jax" if key is not None and backend_of(key) == "jax" else "numpy"
    xp = namespace(backend)
    if dtype is None:
        dt = xp.dtype(xp.float64) if backend == "numpy" else xp.zeros(()).dtype
    else:
        dt = np.dtype(dtype)
    if dt.kind not in "fiu" or dt.kind in "iu" and normalized:
        raise ValueError(f"dtype must be a float dtype (or an integer dtype with normalized=False), got {dt}")
    k = p2.bit_length() - 1
    S = np.ones((1, 1), dtype=np.int8)
    for _ in range(k):  # Sylvester: H_2k = [[H_k, H_k], [H_k, −H_k]]
        S = np.block([[S, S], [S, -S]])
    H = xp.asarray(np.kron(_base(m), S) if m > 1 else S).astype(dt)  # H_m ⊗ H_(2^k)
    s = random_signs(n, key, backend)
    if s is not None:
        H = H * s.astype(dt)[:, None]
    if normalized:  # every entry ±fl(1/√n), as fwht scales
        H = H * xp.asarray(1 / math.sqrt(n), dtype=dt)
    return H


def fwht(x: Any, *, axis: int = -1, key: Any = None, normalized: bool = True) -> Any:
    """The fast Walsh–Hadamard transform along ``axis``: ``x @ hadamard(n, key=key)`` in
    O(n log n) (n = x.shape[axis]).

    The power-of-two part runs as log2(2^k) butterfly stages (a + b, a − b), the base part as
    one product with the m×m base matrix (:func:`hadamard_factors`); then the result is
    multiplied once by 1/√n (rounded to the working precision). With ``key``, x is first
    multiplied by the random signs (the randomized Hadamard transform). Integer inputs with
    ``normalized=False`` are transformed exactly (results grow by at most a factor n: mind the
    integer width); float inputs agree with ``x @ hadamard(n)`` to a few ulps of the result's
    scale.

    Args:
        x: NumPy or JAX array, float16/bfloat16/float32/float64 (float16 and bfloat16 are
            transformed in float32 and rounded back once), or integers with
            ``normalized=False``. Works under ``jax.jit`` and ``jax.vmap``.
        axis: the axis to transform.
        key: random signs, as :func:`hadamard` (an int seed gives the same signs on NumPy and
            JAX).
        normalized: multiply by 1/√n (orthonormal, default) or not (the ±1 matrix).

    Returns:
        An array of x's shape, dtype and array library.

    Raises:
        ValueError: an unsupported size along ``axis`` (see :func:`hadamard_factors`), a bad
            ``axis``, bad explicit signs.
        TypeError: complex, boolean or object input; integer input with ``normalized=True``.
    """
    backend = backend_of(x)
    xp = namespace(backend)
    x = xp.asarray(x) if backend == "jax" else as_numpy_array(x, "x")
    if not isinstance(normalized, bool):
        raise TypeError(f"normalized must be a bool, got {normalized!r}")
    dt = x.dtype
    if dt.name in _FLOATS:
        work = "float64" if dt.name == "float64" else "float32"
    elif np.dtype(dt).kind in "iu" and np.dtype(dt).kind != "b":
        if normalized:
            raise TypeError(f"x has integer dtype {dt}: the orthonormal transform is not an integer; pass "
                            "normalized=False for the exact integer transform, or convert x to float")
        work = dt.name
    else:
        raise TypeError(f"x must be a float array (or integers with normalized=False), got dtype {dt}")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -max(x.ndim, 1) <= axis < x.ndim:
        raise ValueError(f"axis must be an int in [{-x.ndim}, {x.ndim}) for a {x.ndim}-d array, got {axis!r}")
    n = x.shape[axis]
    m, p2 = hadamard_factors(n)
    y = xp.moveaxis(x, int(axis), -1).astype(work)
    s = random_signs(n, key, backend)
    if s is not None:
        y = y * s.astype(work)
    lead = tuple(y.shape[:-1])
    h = 1
    while h < p2:  # butterflies on pairs (i, i + h) inside blocks of 2h: Sylvester's natural order
        y = y.reshape(lead + (m, p2 // (2 * h), 2, h))
        a, b = y[..., 0, :], y[..., 1, :]
        y = xp.stack([a + b, a - b], axis=-2)
        h *= 2
    y = y.reshape(lead + (m, p2))
    if m > 1:  # z[a, :] = Σ_i H_m[i, a] y[i, :]
        Ht = xp.asarray(np.ascontiguousarray(_base(m).T)).astype(work)
        if backend == "jax":
            y = xp.matmul(Ht, y, precision="highest")
        else:
            y = Ht @ y
    y = y.reshape(lead + (n,))
    if normalized:
        y = y * xp.asarray(1 / math.sqrt(n), dtype=work)
    return xp.moveaxis(y, -1, int(axis)).astype(dt)
