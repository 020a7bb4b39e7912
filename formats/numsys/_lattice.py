"""Lattice quantizers: Conway & Sloane nearest-point algorithms and nested-lattice (Voronoi) codes.

Lattices, in the standard scaling (Conway & Sloane, *Sphere Packings, Lattices and Groups*
(SPLAG), ch. 4 and ch. 20; "Fast quantizing and decoding algorithms for lattice quantizers and
codes", IEEE Trans. IT-28, 1982):

* Z^n — integer vectors; nearest point: round every coordinate.
* D_n (n ≥ 2) — integer vectors with even coordinate sum; nearest point: round every
  coordinate (f); if the sum is odd, re-round the coordinate with the largest rounding error the
  other way (g).
* E8 = D8 ∪ (D8 + ½·1); nearest point: decode in both cosets, keep the closer.
* A_n — integer vectors in R^(n+1) with coordinate sum 0; nearest point (SPLAG ch. 20 §2):
  project onto the sum-zero hyperplane, round, and if the rounded sum Δ ≠ 0 move the |Δ|
  coordinates with the most extreme rounding errors one step back. Arrays are (..., n+1).

Ties (a point equidistant from two lattice points) are broken deterministically: coordinates
round half up (floor(x + ½)), the "worst" coordinate of D_n is the first largest error, E8 keeps
the D8 point on a tie. NumPy and JAX give identical results.

Nested-lattice (Voronoi) codes, as in NestQuant (Savkin, Porat, Ordentlich, Polyanskiy,
arXiv 2502.09720): the codebook is Λ ∩ q·V (V the Voronoi cell of Λ); a point λ = Gᵀz is
stored as z mod q (n integers in [0, q)), decoded as Gᵀc − q·Q_Λ(Gᵀc / q). A vector whose
nearest point falls outside q·V is *overloaded* (it decodes to a different point); NestQuant
tries a small set of scales β_1 < … < β_k and keeps the first without overload, storing its
index. Rate: log2(q) + log2(k)/n bits per dimension.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from typing import Any, ClassVar

import numpy as np

from ..core import _registry
from ..core._backend import namespace, straight_through
from ..core._dispatch import register_codec
from ..core._options import check_float_input
from ..core._qarray import QArray
from ..core._records import Format, _require_int

__all__ = ["Lattice", "NestedLatticeFormat", "get_lattice", "nearest", "voronoi_encode",
           "voronoi_decode", "normalized_second_moment", "LATTICE_KINDS", "KNOWN_NSM"]

LATTICE_KINDS = ("Z", "D", "A", "E")

#: Normalised second moments G (SPLAG, Table 2.3) of the lattices this module implements.
KNOWN_NSM = {
    "Z1": 1 / 12,        # 0.083333
    "A2": 0.080188,      # hexagonal lattice, 5/(36·√3)
    "D4": 0.076603,
    "E8": 0.071682,
}


@dataclasses.dataclass(frozen=True)
class Lattice:
    """A lattice by family and dimension: ``Lattice("D", 4)`` is D4, ``Lattice("E", 8)`` is E8.

    Args:
        kind: ``"Z"``, ``"D"`` (n ≥ 2), ``"A"`` (n ≥ 1; coordinates in R^(n+1)) or ``"E"``
            (n = 8 only).
        n: dimension, 1..256.

    Raises:
        ValueError: naming the field.
    """

    kind: str
    n: int

    def __post_init__(self):
        if self.kind not in LATTICE_KINDS:
            raise ValueError(f"kind must be one of {LATTICE_KINDS}, got {self.kind!r}")
        _require_int("n", self.n, 1, 256)
        if self.kind == "D" and self.n < 2:
            raise ValueError("D_n needs n >= 2")
        if self.kind == "E" and self.n != 8:
            raise ValueError(f"only E8 is implemented, got E{self.n}")

    @property
    def name(self) -> str:
        return f"{self.kind}{self.n}"

    @property
    def ambient_dim(self) -> int:
        """Length of the coordinate vectors: n, or n + 1 for A_n."""
        return self.n + 1 if self.kind == "A" else self.n

    @property
    def volume(self) -> float:
        """Volume of a fundamental cell: Z 1, D_n 2, E8 1, A_n √(n+1) (SPLAG ch. 4)."""
        return {"Z": 1.0, "D": 2.0, "E": 1.0, "A": math.sqrt(self.n + 1)}[self.kind]

    @property
    def generator(self) -> np.ndarray:
        """Generator matrix (rows are basis vectors), float64, shape (n, ambient_dim)."""
        return _generator(self).copy()

    def __str__(self) -> str:
        return self.name


@functools.cache
def _generator(lat: Lattice) -> np.ndarray:
    n = lat.n
    if lat.kind == "Z":
        G = np.eye(n)
    elif lat.kind == "D":
        # 2e1, e2 − e1, …, en − e(n−1): integer, even sums, determinant 2 (generates D_n).
        G = np.zeros((n, n))
        G[0, 0] = 2
        for i in range(1, n):
            G[i, i], G[i, i - 1] = 1, -1
    elif lat.kind == "E":
        # 2e1, e2 − e1, …, e7 − e6 (a basis of D7 ⊂ D8 on the first 7 coordinates) and ½·1:
        # lower triangular with diagonal (2, 1, …, 1, ½), determinant 1 (SPLAG ch. 4 §8.1).
        G = np.zeros((8, 8))
        G[0, 0] = 2
        for i in range(1, 7):
            G[i, i], G[i, i - 1] = 1, -1
        G[7, :] = 0.5
    else:
        G = np.zeros((n, n + 1))
        for i in range(n):
            G[i, i], G[i, i + 1] = -1, 1
    G.setflags(write=False)
    return G


@functools.cache
def _generator_inv(lat: Lattice) -> np.ndarray:
    if lat.kind == "A":
        raise ValueError("Voronoi codes need a square generator; A_n is not supported")
    Gi = np.linalg.inv(_generator(lat))
    Gi = np.round(Gi * 2) / 2  # entries are multiples of ½ for Z, D_n, E8
    Gi.setflags(write=False)
    return Gi


_NAME = re.compile(r"^([ZDAE])(\d+)$")


def get_lattice(lattice: Lattice | str) -> Lattice:
    """A :class:`Lattice` from a record or a name such as ``"Z8"``, ``"D4"``, ``"E8"``, ``"A2"``.

    Raises:
        ValueError: for an unknown name; TypeError for other types.
    """
    if isinstance(lattice, Lattice):
        return lattice
    if isinstance(lattice, str):
        m = _NAME.match(lattice)
        if not m:
            raise ValueError(f"lattice must be a name like 'Z8', 'D4', 'A2', 'E8', got {lattice!r}")
        return Lattice(m.group(1), int(m.group(2)))
    raise TypeError(f"lattice must be a Lattice or a name, got {type(lattice).__name__}")


# ------------------------------------------------------------------------- nearest point
def _round_half_up(xp, x):
    return xp.floor(x + 0.5)


def _sum_last(xp, v):
    """Sum over the last axis in a fixed left-to-right order (identical on NumPy and XLA, whose
    reductions associate differently; it matters at near-ties of the E8 coset choice)."""
    acc = v[..., 0]
    for i in range(1, v.shape[-1]):
        acc = acc + v[..., i]
    return acc


def _nearest_D(xp, x):
    f = _round_half_up(xp, x)
    d = x - f
    k = xp.argmax(xp.abs(d), axis=-1)
    onehot = xp.arange(x.shape[-1]) == k[..., None]
    dk = xp.take_along_axis(d, k[..., None], axis=-1)
    step = xp.where(dk >= 0, 1.0, -1.0).astype(x.dtype)
    g = f + xp.where(onehot, step, xp.zeros((), x.dtype))
    odd = xp.remainder(xp.sum(f, axis=-1), 2) != 0
    return xp.where(odd[..., None], g, f)


def _nearest_E8(xp, x):
    y0 = _nearest_D(xp, x)
    y1 = _nearest_D(xp, x - 0.5) + 0.5
    d0 = _sum_last(xp, (x - y0) * (x - y0))
    d1 = _sum_last(xp, (x - y1) * (x - y1))
    return xp.where((d1 < d0)[..., None], y1, y0)


def _nearest_A(xp, x):
    m = x.shape[-1]
    x = x - (_sum_last(xp, x) * x.dtype.type(1.0 / m) if xp is np
             else _sum_last(xp, x) * xp.asarray(1.0 / m, x.dtype))[..., None]
    f = _round_half_up(xp, x)
    delta = _sum_last(xp, f).astype(xp.int32)[..., None]
    d = x - f
    order = xp.argsort(d, axis=-1)
    ranks = xp.argsort(order, axis=-1)
    dec = (delta > 0) & (ranks < delta)               # rounded up the most: take one back
    inc = (delta < 0) & (ranks >= m + delta)          # rounded down the most: add one
    return f - dec.astype(x.dtype) + inc.astype(x.dtype)


def nearest_xp(xp, x, lat: Lattice):
    if lat.kind == "Z":
        return _round_half_up(xp, x)
    if lat.kind == "D":
        return _nearest_D(xp, x)
    if lat.kind == "E":
        return _nearest_E8(xp, x)
    return _nearest_A(xp, x)


def nearest(x: Any, lattice: Lattice | str, *, scale: float = 1.0) -> Any:
    """The point of ``scale``·Λ nearest to each vector of ``x`` (Conway & Sloane).

    Args:
        x: float array (NumPy or JAX) shaped (..., d), d = the lattice's ambient dimension
            (n; n + 1 for A_n).
        lattice: a :class:`Lattice` or a name (``"Z8"``, ``"D4"``, ``"D8"``, ``"E8"``, ``"A2"``).
        scale: lattice step (positive float or array broadcastable to x[..., :1]); the result
            is scale · Q_Λ(x / scale).

    Returns:
        Array like ``x`` (same shape, dtype, array library) of lattice points.

    Raises:
        ValueError: if the last axis does not match the lattice or ``scale`` is not positive;
        TypeError: for non-float inputs.
    """
    lat = get_lattice(lattice)
    xp = namespace(x)
    back = x.dtype if isinstance(x, np.ndarray) and not x.dtype.isnative else None
    x = check_float_input(x, "jax" if xp is not np else "numpy")
    if x.ndim == 0 or x.shape[-1] != lat.ambient_dim:
        raise ValueError(f"x must have shape (..., {lat.ambient_dim}) for {lat.name}, got {x.shape}")
    if xp is np and np.any(np.asarray(scale) <= 0):
        raise ValueError(f"scale must be positive, got {scale!r}")
    dt = x.dtype
    xw = x.astype(xp.float32) if dt.name in ("float16", "bfloat16") else x
    s = xp.asarray(scale, dtype=xw.dtype)
    return (nearest_xp(xp, xw / s, lat) * s).astype(back or dt)


def normalized_second_moment(lattice: Lattice | str, *, samples: int = 200_000, seed: int = 0) -> float:
    """Monte Carlo normalised second moment G = E‖x − Q(x)‖² / (n · V^(2/n)).

    x is uniform over a fundamental parallelepiped (x = uᵀG, u uniform in [0, 1)^n), hence
    uniform modulo the lattice; compare with :data:`KNOWN_NSM` (SPLAG Table 2.3).

    Returns:
        G as a float (standard error about 0.3 %/√(samples/10⁵)).
    """
    lat = get_lattice(lattice)
    rng = np.random.default_rng(seed)
    u = rng.random((samples, lat.n))
    x = u @ _generator(lat)
    e = x - nearest_xp(np, x, lat)
    return float(np.mean(np.sum(e * e, axis=-1)) / (lat.n * lat.volume ** (2 / lat.n)))


# --------------------------------------------------------------------------- Voronoi codes
def _matvec(xp, v, M):
    """v @ M for small M, as an explicit broadcast sum (exact for the small integers here)."""
    return xp.sum(v[..., :, None] * xp.asarray(M, dtype=v.dtype), axis=-2)


def voronoi_encode_xp(xp, lam, lat, q):
    z = xp.round(_matvec(xp, lam, _generator_inv(lat))).astype(xp.int32)
    return (z % q).astype(lam.dtype)     # integer remainder: exact on every backend


def _coarse_D(xp, v2, q):
    """Q_{D_n}(v/q) for integer v2 = 2v, in exact integer arithmetic (same rules as _nearest_D)."""
    f = (v2 + q) // (2 * q)                       # floor(v/q + ½)
    r2 = v2 - 2 * q * f                           # 2q·(v/q − f), exact
    k = xp.argmax(xp.abs(r2), axis=-1)
    onehot = xp.arange(v2.shape[-1]) == k[..., None]
    rk = xp.take_along_axis(r2, k[..., None], axis=-1)
    g = f + xp.where(onehot, xp.where(rk >= 0, 1, -1), 0)
    odd = (_sum_last(xp, f) % 2) != 0
    return xp.where(odd[..., None], g, f)


def _coarse_nearest(xp, v2, lat, q):
    """Q_Λ(v / q) for v = v2/2 with v2 integer (int32): exact, so the Voronoi decoder makes the
    same choice on every backend and under jax.jit (where XLA fuses a*b + c into an FMA)."""
    if lat.kind == "Z":
        return ((v2 + q) // (2 * q)).astype(xp.float32)
    if lat.kind == "D":
        return _coarse_D(xp, v2, q).astype(xp.float32)
    y0 = _coarse_D(xp, v2, q)
    y1 = _coarse_D(xp, v2 - q, q)                 # D8 + ½: decode v − q/2, add ½ below
    e0 = v2 - 2 * q * y0                          # 2(v − q·y0)
    e1 = v2 - q - 2 * q * y1                      # 2(v − q·(y1 + ½))
    d0 = _sum_last(xp, e0 * e0)
    d1 = _sum_last(xp, e1 * e1)
    return xp.where((d1 < d0)[..., None], y1.astype(xp.float32) + 0.5, y0.astype(xp.float32))


def voronoi_decode_xp(xp, c, lat, q):
    v = _matvec(xp, c, _generator(lat))           # multiples of ½, exact
    v2 = xp.round(v * 2).astype(xp.int32)
    return v - q * _coarse_nearest(xp, v2, lat, q).astype(v.dtype)


def _check_q(q):
    if isinstance(q, bool) or not isinstance(q, int) or not 2 <= q <= 256:
        raise ValueError(f"q must be an int in [2, 256], got {q!r}")


def voronoi_encode(x: Any, lattice: Lattice | str, q: int) -> Any:
    """Nested-lattice code of each vector of ``x``: z mod q where λ = Q_Λ(x) = zᵀG.

    Args:
        x: float array (..., n) (NumPy or JAX).
        lattice: Z_n, D_n or E8 (record or name).
        q: nesting ratio, 2..256 (the coarse lattice is qΛ).

    Returns:
        uint8 array (..., n) of coordinates in [0, q).

    Raises:
        ValueError: for A_n, bad q, or a wrong last axis.
    """
    lat = get_lattice(lattice)
    _check_q(q)
    lam = nearest(x, lat)
    xp = namespace(lam)
    lam = lam.astype(xp.float32) if lam.dtype.name in ("float16", "bfloat16") else lam
    return voronoi_encode_xp(xp, lam, lat, q).astype(xp.uint8)


def voronoi_decode(codes: Any, lattice: Lattice | str, q: int, dtype: Any = "float32") -> Any:
    """The point of Λ ∩ qV represented by ``codes``: Gᵀc − q·Q_Λ(Gᵀc/q).

    Args:
        codes: integer array (..., n) of coordinates in [0, q).
        lattice: Z_n, D_n or E8 (record or name).
        q: nesting ratio used to encode.
        dtype: float dtype of the result.

    Returns:
        Float array (..., n) of lattice points (same array library as ``codes``).

    Raises:
        TypeError: non-integer ``codes``.
        ValueError: a code outside [0, q) (NumPy), a last axis that is not the lattice's
            dimension, a bad ``q``, or a ``dtype`` that is not a float dtype.
    """
    from ..core._codec import DECODE_DTYPES
    from ..core._qarray import check_codes

    lat = get_lattice(lattice)
    _check_q(q)
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DECODE_DTYPES:
        raise ValueError(f"dtype must be a float dtype, one of {DECODE_DTYPES}, got {dtype!r}")
    xp = namespace(codes)
    codes = check_codes("codes", codes, 8, limit=q)
    if codes.ndim == 0 or codes.shape[-1] != lat.n:
        raise ValueError(f"codes must have shape (..., {lat.n}) for {lat.name}, got {tuple(codes.shape)}")
    c = codes.astype(dtype)
    return voronoi_decode_xp(xp, c, lat, q)


# --------------------------------------------------------------------------- the format
#: Default scales β for q = 16, as multiples of the RMS scale (our choice, not the paper's: the
#: 4-set minimising the MSE of i.i.d. Gaussian data with E8, q = 16, first-non-overloaded rule —
#: 4.55e-3 per dimension, 23.4 dB, at 4.25 bits/dimension). Other q use these × 16/q.
DEFAULT_BETAS = (0.2, 0.26, 0.32, 0.48)


@dataclasses.dataclass(frozen=True)
class NestedLatticeFormat(Format):
    """A tensor format: blocks of n along an axis, each coded by a nested-lattice (Voronoi) code.

    A block v is scaled by its base scale s (the RMS of the tensor, ``scale="tensor"``, or of
    the block, ``scale="block"``, rounded to bfloat16) and by the first β_j of ``betas`` for
    which v/(s·β_j) is not overloaded (NestQuant, arXiv 2502.09720); the code is the Voronoi
    code of Q_Λ(v/(s·β_j)) and the index j. Decoded value: s·β_j·(Gᵀc − q·Q_Λ(Gᵀc/q)). If every
    β overloads, the largest is used (and the block decodes to another codeword, as a
    saturating scalar format would clip).

    Encoded QArray: ``codes`` uint8 (..., blocks, n) (the axis moved last, zero-padded to a
    multiple of n), ``scales`` uint8 β index (..., blocks), ``tensor_scale`` float32 base scale
    (a bfloat16 value) — shape () for ``scale="tensor"``, (..., blocks) for ``scale="block"``.

    NumPy and JAX give identical codes, except that the per-tensor RMS is a reduction whose
    summation order differs between backends: if it lands within float32 rounding of a
    bfloat16 rounding boundary the two base scales differ by one bfloat16 step. Per-block
    scales are summed in a fixed order and always agree.

    Args:
        lattice: ``"Z<n>"``, ``"D<n>"`` or ``"E8"`` (name).
        q: nesting ratio, 2..256 (``bits`` = ceil(log2 q) per element).
        betas: ascending positive scales (1..16 of them); default :data:`DEFAULT_BETAS` × 16/q.
        scale: ``"tensor"`` or ``"block"``.
        name: registry name.
    """

    lattice: str = "E8"
    q: int = 16
    betas: tuple = None  # type: ignore[assignment]  # None: the default, set in __post_init__
    scale: str = "tensor"
    name: str = dataclasses.field(default="", compare=False)

    family: ClassVar[str] = "lattice"

    def __post_init__(self):
        lat = get_lattice(self.lattice)
        if lat.kind == "A":
            raise ValueError("lattice must be Z_n, D_n or E8 (A_n has no square generator)")
        _check_q(self.q)
        if self.betas is None:
            object.__setattr__(self, "betas", tuple(round(v * 16 / self.q, 6) for v in DEFAULT_BETAS))
        if not isinstance(self.betas, (tuple, list)):
            raise ValueError(f"betas must be a tuple of floats, got {self.betas!r}")
        b = tuple(float(v) for v in self.betas)
        if not 1 <= len(b) <= 16 or any(not (v > 0 and math.isfinite(v)) for v in b) or list(b) != sorted(set(b)):
            raise ValueError(f"betas must be 1..16 distinct positive ascending floats, got {self.betas!r}")
        object.__setattr__(self, "betas", b)
        if self.scale not in ("tensor", "block"):
            raise ValueError(f"scale must be 'tensor' or 'block', got {self.scale!r}")

    @property
    def lattice_record(self) -> Lattice:
        return get_lattice(self.lattice)

    @property
    def block_size(self) -> int:
        return self.lattice_record.n

    @property
    def bits(self) -> int:
        """Bits of one element code, ceil(log2 q)."""
        return max(1, math.ceil(math.log2(self.q)))

    @property
    def rate(self) -> float:
        """Bits per dimension of the lattice code: log2(q) + log2(len(betas))/n."""
        return math.log2(self.q) + math.log2(len(self.betas)) / self.block_size

    @property
    def unused_codes(self):
        """Element codes q … 2^bits − 1 (no lattice coordinate; e.g. 14, 15 for q = 14)."""
        from ..core._records import CodeSet

        return CodeSet([range(self.q, 1 << self.bits)])

    @property
    def bits_per_element(self) -> float:
        """Storage bits per element: ceil(log2 q) + ceil(log2 k)/n, plus 16/n for bf16 block scales."""
        k = len(self.betas)
        extra = (math.ceil(math.log2(k)) if k > 1 else 0) / self.block_size
        if self.scale == "block":
            extra += 16 / self.block_size
        return self.bits + extra

    @property
    def has_inf(self) -> bool:
        return False

    @property
    def has_nan(self) -> bool:
        return False


def _blocks(xp, x, axis, n):
    """Move ``axis`` last, zero-pad to a multiple of n, reshape to (..., blocks, n)."""
    x = xp.moveaxis(x, axis, -1)
    L = x.shape[-1]
    pad = (-L) % n
    if pad:
        x = xp.concatenate([x, xp.zeros(x.shape[:-1] + (pad,), x.dtype)], axis=-1)
    return x.reshape(x.shape[:-1] + ((L + pad) // n, n)), pad


class _NestedCodec:
    """Nested-lattice formats through the verbs. Options: rounding must be ``nearest_even``
    (the lattice's nearest point), overflow None (overload is handled by the β set);
    ``axis`` picks the blocking axis; ``flush_subnormals`` has no effect."""

    def _check(self, x, opts, key, backend, extra):
        if extra:
            raise TypeError(f"unexpected option(s) for lattice formats: {', '.join(sorted(extra))}")
        if opts.rounding != "nearest_even":
            raise ValueError(f"lattice formats round to the nearest lattice point; rounding must be "
                             f"'nearest_even', got {opts.rounding!r}")
        if opts.overflow is not None:
            raise ValueError(f"overflow must be None for lattice formats (overload is handled by the "
                             f"scales β), got {opts.overflow!r}")
        if key is not None:
            raise ValueError("key is only used with rounding='stochastic'")
        x = check_float_input(x, backend)
        nd = max(x.ndim, 1)  # a 0-d array is one element along axis 0, as in block formats
        ax = opts.axis
        if not -nd <= ax < nd:
            raise ValueError(f"axis must be in [{-nd}, {nd}) for an array of shape {x.shape}, got {ax}")
        if backend == "numpy" and not np.all(np.isfinite(x)):
            raise ValueError("lattice formats need finite inputs (they have no NaN/Inf)")
        return x, ax % nd

    def encode(self, x, fmt, opts, key, backend, **extra):
        x, axis = self._check(x, opts, key, backend, extra)
        if backend == "jax":
            from ._numsys_jax import jitted

            return jitted(_encode_jax, (1, 2))(x, fmt, axis)
        return _encode_xp(np, x, fmt, axis)

    def validate(self, q):
        """QArray layout of a nested-lattice format (see :class:`NestedLatticeFormat`)."""
        from ..block._layout import check_blocked
        from ..core._qarray import check_codes, check_float_scalar, check_shape_of

        fmt = q.format
        want = check_blocked(q, fmt.block_size, None)
        if q.scales is None:
            raise ValueError(f"scales (the β index of each block) is missing (None) for {fmt}")
        idx = check_codes("scales (β indices)", q.scales, 8, fmt, limit=len(fmt.betas))
        check_shape_of("scales (β indices)", idx, want[:-1], fmt)
        object.__setattr__(q, "scales", idx)
        check_float_scalar("tensor_scale", q.tensor_scale, () if fmt.scale == "tensor" else want[:-1])
        L = q.shape[q.axis] if q.shape else 1
        object.__setattr__(q, "meta", (want[-2] * want[-1] - L,))

    def decode(self, q, dtype, backend):
        if backend == "jax":
            from ._numsys_jax import jitted

            return jitted(_decode_jax, (1,))(q, dtype or "float32")
        return _decode_xp(np, q, dtype or "float32")

    def quantize(self, x, fmt, opts, key, backend, **extra):
        qa = self.encode(x, fmt, opts, key, backend, **extra)
        dt = x.dtype.name if np.dtype(x.dtype).name in ("float32", "float64") else "float32"
        out = self.decode(qa, dt, backend).astype(x.dtype)
        if backend == "jax":
            return straight_through(x, out)
        return out

    def values(self, fmt):
        raise ValueError(f"{fmt} is a vector code: its codewords are vectors, not a list of values "
                         "(use formats.lattice.voronoi_decode to enumerate them)")


def _encode_jax(x, fmt, axis):
    return _encode_xp(_jnp(), x, fmt, axis)


def _decode_jax(q, dtype):
    return _decode_xp(_jnp(), q, dtype)


def _encode_xp(xp, x, fmt, axis):
    """Encode x (float array) to a QArray of the nested-lattice format ``fmt`` on backend xp."""
    lat, q, n = fmt.lattice_record, fmt.q, fmt.block_size
    xw = x.astype(xp.float32)
    if xw.ndim == 0:
        xw = xw.reshape(1)
    blk, pad = _blocks(xp, xw, axis, n)
    from ..core._codec import quantize as _quantize

    if fmt.scale == "tensor":
        r = xp.sqrt(xp.mean(xw * xw)) if xw.size else xp.float32(0)
    else:
        # sum of squares in a fixed order (elementwise ops only): identical on every backend
        ss = blk[..., 0] * blk[..., 0]
        for i in range(1, n):
            ss = ss + blk[..., i] * blk[..., i]
        r = xp.sqrt(ss / xp.float32(n))
    r = xp.asarray(r, dtype=xp.float32)
    r = _quantize(r, "bfloat16", overflow="saturate").reshape(r.shape)
    s = xp.where(r > 0, r, xp.float32(1)).astype(xp.float32)
    s_blk = xp.broadcast_to(s, blk.shape[:-1])
    codes = None
    idx = None
    for j in range(len(fmt.betas) - 1, -1, -1):
        # multiply by a reciprocal computed once: XLA turns division by a broadcast value
        # into a (differently rounded) reciprocal multiplication, NumPy does not.
        inv = xp.float32(1) / (s_blk * xp.float32(fmt.betas[j]))
        y = blk * inv[..., None]
        lam = nearest_xp(xp, y, lat)
        c = voronoi_encode_xp(xp, lam, lat, q)
        ok = xp.all(voronoi_decode_xp(xp, c, lat, q) == lam, axis=-1)
        if codes is None:
            codes, idx = c, xp.full(ok.shape, j, dtype=xp.uint8)
        else:
            codes = xp.where(ok[..., None], c, codes)
            idx = xp.where(ok, xp.uint8(j), idx)
    return QArray(codes=codes.astype(xp.uint8), format=fmt, shape=x.shape, scales=idx,
                  tensor_scale=s, axis=axis, meta=(pad,))


def _decode_xp(xp, q, dt):
    fmt = q.format
    lat, n = fmt.lattice_record, fmt.block_size
    lam = voronoi_decode_xp(xp, q.codes.astype(xp.float32), lat, fmt.q)
    nb = len(fmt.betas)
    betas = xp.asarray(np.array(fmt.betas + (np.nan,), dtype=np.float32))
    # unused codes (a coordinate >= q, a β index >= len(betas): JAX arrays are not checked
    # when a QArray is built) decode to NaN, as formats.values documents
    idx = xp.minimum(q.scales.astype(xp.int32), nb)
    scale = betas[idx] * q.tensor_scale
    bad = xp.any(q.codes.astype(xp.int32) >= fmt.q, axis=-1)
    scale = xp.where(bad, xp.float32(np.nan), scale)
    v = lam * scale[..., None]
    v = v.reshape(v.shape[:-2] + (v.shape[-2] * n,))
    pad = q.meta[0]
    if pad:
        v = v[..., : v.shape[-1] - pad]
    return xp.moveaxis(v, -1, q.axis if q.shape else 0).reshape(q.shape).astype(dt)


def _jnp():
    import jax.numpy as jnp

    return jnp


register_codec(NestedLatticeFormat, _NestedCodec())


def _lattice_formats():
    # NestQuant-style Gosset-lattice codes (arXiv 2502.09720 uses E8 with q = 14 or 16 and a
    # handful of β); our betas (DEFAULT_BETAS) are tuned on Gaussian data.
    yield NestedLatticeFormat("E8", 16, name="nestquant_e8_q16")
    yield NestedLatticeFormat("E8", 14, name="nestquant_e8_q14")
    yield NestedLatticeFormat("D4", 16, name="nested_d4_q16")
    yield NestedLatticeFormat("Z8", 16, name="nested_z8_q16")


_registry.register(_lattice_formats)
