"""Lattice quantizers: normalised second moments against SPLAG Table 2.3, nearest point against
brute force, membership, Voronoi codes against their definition, the nested-lattice format
through the verbs, NumPy vs JAX (eager and jit)."""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lowbit import formats
from lowbit.formats import lattice as L


# ------------------------------------------------------------------------- membership
def in_lattice(y, name):
    """Independent membership test in the standard coordinates (SPLAG ch. 4)."""
    y = np.asarray(y, dtype=np.float64)
    integer = np.all(y == np.round(y), axis=-1)
    kind = name[0]
    if kind == "Z":
        return integer
    if kind == "D":
        return integer & (np.round(y).sum(-1) % 2 == 0)
    if kind == "A":
        return integer & (np.round(y).sum(-1) == 0)
    half = np.all(y - 0.5 == np.round(y - 0.5), axis=-1)
    s = y.sum(-1)
    return (integer | half) & (s == np.round(s)) & (np.round(s) % 2 == 0)


def brute_force_distance(x, name):
    """Distance from x to the lattice by enumerating every point of a neighbourhood."""
    kind, _n = name[0], int(name[1:])
    d = x.shape[-1]
    offs = np.array(list(itertools.product((-1, 0, 1), repeat=d)), dtype=np.float64)
    best = np.full(x.shape[0], np.inf)
    bases = [np.round(x)]
    if kind == "E":
        bases.append(np.floor(x) + 0.5)
    for base in bases:
        cand = base[:, None, :] + offs[None]
        ok = in_lattice(cand, name)
        dist = np.where(ok, ((cand - x[:, None, :]) ** 2).sum(-1), np.inf)
        best = np.minimum(best, dist.min(1))
    return best


# ------------------------------------------------------------------------ known answers
@pytest.mark.parametrize("name,G", [("Z1", 1 / 12), ("A2", 0.080188), ("D4", 0.076603), ("E8", 0.071682)])
def test_normalized_second_moment(name, G):
    # Conway & Sloane, SPLAG, Table 2.3 (Z: 1/12 = 0.083333, A2: 0.080188, D4: 0.076603,
    # E8: 0.071682); Monte Carlo within 1 %.
    lat = L.get(name)
    rng = np.random.default_rng(1)
    u = rng.random((100_000, lat.n))
    x = u @ lat.generator                     # uniform over a fundamental cell
    e = x - L.nearest(x, lat)
    g = np.mean(np.sum(e * e, -1)) / (lat.n * lat.volume ** (2 / lat.n))
    assert g == pytest.approx(G, rel=0.01)
    assert L.normalized_second_moment(name, samples=50_000, seed=2) == pytest.approx(G, rel=0.01)
    assert L.KNOWN_NSM[name] == pytest.approx(G)


@pytest.mark.parametrize("name", ["Z3", "D3", "D4", "E8", "A2", "A3", "D5"])
def test_nearest_equals_brute_force_and_is_in_lattice(name):
    lat = L.get(name)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((150, lat.ambient_dim)) * 3
    if lat.kind == "A":
        x = x - x.mean(-1, keepdims=True)
    y = L.nearest(x, name)
    assert np.all(in_lattice(y, name))
    d = ((y - x) ** 2).sum(-1)
    np.testing.assert_allclose(d, brute_force_distance(x, name), rtol=1e-12, atol=1e-12)


def test_known_points_and_scale(each_backend):
    # Conway & Sloane 1982: D4 rounds every coordinate, re-rounds the worst one when the sum is odd;
    # E8 takes the closer of D8 and D8 + 1/2 — through every backend
    near = each_backend.run(L.nearest, np.array([[0.6, 0.6, 0.1, 0.0], [0.6, 0.4, 0.1, 0.0]]), lattice="D4")
    assert near[0].tolist() == [1, 1, 0, 0] and near[1].tolist() in ([1, 1, 0, 0], [0, 0, 0, 0])
    assert each_backend.run(L.nearest, np.full(8, 0.45), lattice="E8").tolist() == [0.5] * 8
    assert L.nearest(np.array([0.6, 0.6, 0.1, 0.0]), "D4").tolist() == [1, 1, 0, 0]
    assert L.nearest(np.array([0.6, 0.4, 0.1, 0.0]), "D4").tolist() == [1, 1, 0, 0] or \
        L.nearest(np.array([0.6, 0.4, 0.1, 0.0]), "D4").tolist() == [0, 0, 0, 0]
    x = np.full(8, 0.45)
    assert L.nearest(x, "E8").tolist() == [0.5] * 8      # the half-integer coset is closer
    rng = np.random.default_rng(0)
    v = rng.standard_normal((50, 8))
    np.testing.assert_array_equal(L.nearest(v, "E8", scale=0.25), 0.25 * L.nearest(v / 0.25, "E8"))
    with pytest.raises(ValueError, match="shape"):
        L.nearest(np.zeros((3, 4)), "E8")
    with pytest.raises(ValueError, match="lattice"):
        L.get("X8")
    with pytest.raises(ValueError, match="E8"):
        L.Lattice("E", 6)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, (5, 8), elements=st.floats(-1e3, 1e3)),
       name=st.sampled_from(["Z8", "D8", "E8"]))
def test_outputs_always_in_lattice_and_idempotent(x, name):
    y = L.nearest(x, name)
    assert np.all(in_lattice(y, name))
    np.testing.assert_array_equal(L.nearest(y, name), y)
    # sign symmetry holds up to ties: the distance is symmetric
    np.testing.assert_allclose(((L.nearest(-x, name) + x) ** 2).sum(-1), ((y - x) ** 2).sum(-1), rtol=1e-9, atol=1e-9)


# --------------------------------------------------------------------------- Voronoi codes
@pytest.mark.parametrize("name,q", [("D4", 4), ("E8", 2), ("Z3", 5), ("D3", 3)])
def test_voronoi_code_is_a_bijection_onto_the_cell(name, q):
    lat = L.get(name)
    codes = np.array(list(itertools.product(range(q), repeat=lat.n)), dtype=np.uint8)
    pts = L.voronoi_decode(codes, name, q, dtype="float64")
    assert np.all(in_lattice(pts, name))
    assert len({tuple(p) for p in pts.tolist()}) == q ** lat.n            # q^n distinct codewords
    np.testing.assert_array_equal(L.voronoi_encode(pts, name, q), codes)  # and back
    # each codeword is a nearest lattice point of the coarse lattice's origin cell: ‖λ‖ is no
    # larger than ‖λ − qμ‖ for every coarse point qμ of a neighbourhood
    mus = L.nearest(np.array(list(itertools.product((-1, 0, 1), repeat=lat.n)), dtype=np.float64) * 0.9, name)
    mus = np.unique(mus, axis=0)
    own = (pts ** 2).sum(-1)
    other = ((pts[:, None, :] - q * mus[None]) ** 2).sum(-1).min(1)
    assert np.all(own <= other + 1e-9)


def test_voronoi_decode_jit_matches_numpy():
    rng = np.random.default_rng(0)
    for name, q in (("E8", 14), ("E8", 16), ("D4", 7)):
        c = rng.integers(0, q, (5000, L.get(name).n)).astype(np.uint8)
        ref = L.voronoi_decode(c, name, q)
        got = jax.jit(lambda v: L.voronoi_decode(v, name, q))(jnp.asarray(c))
        np.testing.assert_array_equal(np.asarray(got), ref)


# --------------------------------------------------------------------- the nested format
def test_format_numbers():
    f = formats.get("nestquant_e8_q16")
    assert (f.bits, f.block_size, f.rate, f.bits_per_element) == (4, 8, 4.25, 4.25)
    g = L.NestedLatticeFormat("E8", 14, scale="block")
    assert g.rate == pytest.approx(math.log2(14) + 2 / 8)
    assert g.bits_per_element == 4 + 2 / 8 + 16 / 8
    with pytest.raises(ValueError, match="betas"):
        L.NestedLatticeFormat("E8", 16, betas=(0.5, 0.2))
    with pytest.raises(ValueError, match="A_n"):
        L.NestedLatticeFormat("A2", 16)


@pytest.mark.parametrize("scale", ["tensor", "block"])
def test_quantize_through_the_verbs(scale):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 37)).astype(np.float32)
    f = L.NestedLatticeFormat("E8", 16, scale=scale)
    q = formats.encode(x, f)
    assert q.codes.shape == (6, 5, 8) and q.scales.shape == (6, 5) and q.codes.max() < 16
    y = formats.decode(q)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(formats.quantize(x, f), y)
    # every decoded block is (base scale · β) times a point of E8
    s = q.tensor_scale if scale == "block" else np.broadcast_to(q.tensor_scale, q.scales.shape)
    beta = np.array(f.betas, np.float32)[q.scales]
    blocks = np.concatenate([y, np.zeros((6, 3), np.float32)], 1).reshape(6, 5, 8)
    lam = blocks / (s * beta)[..., None]
    assert np.all(in_lattice(np.round(lam * 2) / 2, "E8"))
    np.testing.assert_allclose(lam, np.round(lam * 2) / 2, atol=1e-4)
    # axis: blocking along axis 0 equals transposing
    xa = x[:, :8].copy()
    np.testing.assert_array_equal(formats.quantize(xa, L.NestedLatticeFormat("E8", 16, scale="block"), axis=0),
                                  formats.quantize(xa.T.copy(), L.NestedLatticeFormat("E8", 16, scale="block")).T)


def test_e8_beats_z8_at_equal_rate():
    # same q, same β set and rate: E8's smaller normalised second moment shows up as a lower MSE
    rng = np.random.default_rng(7)
    x = rng.standard_normal((256, 64)).astype(np.float32)
    mse = {n: float(np.mean((formats.quantize(x, L.NestedLatticeFormat(n, 16)) - x) ** 2)) for n in ("E8", "Z8")}
    assert mse["E8"] < 0.85 * mse["Z8"]
    assert mse["E8"] < 0.006       # ≈ 23 dB at 4.25 bits/dimension


def test_errors():
    f = formats.get("nestquant_e8_q16")
    x = np.ones((2, 8), np.float32)
    with pytest.raises(ValueError, match="rounding"):
        formats.quantize(x, f, rounding="stochastic", key=0)
    with pytest.raises(ValueError, match="overflow"):
        formats.quantize(x, f, overflow="saturate")
    with pytest.raises(ValueError, match="finite"):
        formats.quantize(np.array([[np.nan] * 8], np.float32), f)
    with pytest.raises(ValueError, match="vector code"):
        formats.values(f)
    with pytest.raises(TypeError, match="unexpected"):
        formats.quantize(x, f, domain="log")


@pytest.mark.parametrize("lat,q,betas,scale", [("E8", 14, (0.25, 0.4), "block"), ("D4", 16, None, "tensor")])
def test_jax_matches_numpy(lat, q, betas, scale):
    # q = 14: 1/14 is inexact, the case where XLA's rewrites (x/c → x·(1/c), a·b + c → FMA under
    # jit) would change codes if the decoder were not exact
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((32, 40)) * 2).astype(np.float32)
    if True:
        f = L.NestedLatticeFormat(lat, q, betas=betas, scale=scale)
        qn = formats.encode(x, f)
        qj = jax.jit(lambda v: formats.encode(v, f))(jnp.asarray(x))
        np.testing.assert_array_equal(np.asarray(qj.codes), qn.codes)
        np.testing.assert_array_equal(np.asarray(qj.scales), qn.scales)
        np.testing.assert_array_equal(np.asarray(formats.decode(qj)), formats.decode(qn))
    xj = jnp.asarray(x)
    np.testing.assert_array_equal(np.asarray(L.nearest(xj[:, :8], "E8")), L.nearest(x[:, :8], "E8"))


def test_voronoi_decode_checks_codes_and_dtype():
    """Codes outside [0, q) decoded silently to some lattice point; float codes and integer
    output dtypes were accepted."""
    good = np.uint8([[1, 2, 3, 4, 5, 6, 7, 8]])
    want = formats.lattice.voronoi_decode(good, "E8", 16)
    assert np.array_equal(formats.lattice.voronoi_decode(good.tolist(), "E8", 16), want)
    assert np.array_equal(formats.lattice.voronoi_decode(good.astype(">u2"), "E8", 16), want)
    with pytest.raises(ValueError, match="codes"):
        formats.lattice.voronoi_decode(np.uint8([[1, 2, 3, 4, 5, 6, 7, 16]]), "E8", 16)
    with pytest.raises(TypeError, match="codes"):
        formats.lattice.voronoi_decode(good.astype(np.float32), "E8", 16)
    with pytest.raises(ValueError, match="codes"):
        formats.lattice.voronoi_decode(good[:, :4], "E8", 16)
    with pytest.raises(ValueError, match="dtype"):
        formats.lattice.voronoi_decode(good, "E8", 16, dtype=np.int32)


def test_nearest_keeps_the_input_dtype_and_byte_order():
    x = np.array([0.6, 0.6, 0.1, 0.0], ">f4")
    out = formats.lattice.nearest(x, "D4")
    assert out.dtype == x.dtype and out.tolist() == [1.0, 1.0, 0.0, 0.0]
