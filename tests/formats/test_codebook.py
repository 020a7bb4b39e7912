"""Codebook formats: NF4 (QLoRA), ternary BitNet b1.58, binary sign·mean, user codebooks.

Oracles: the QLoRA construction of the NF4 levels (normal quantiles, scipy), brute-force
nearest-level search, and the BitNet / XNOR-Net formulas written out with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from lowbit import formats
from lowbit.formats import CodebookFormat

NF4 = formats.get("nf4")


def test_nf4_levels_from_the_qlora_construction():
    # QLoRA (arXiv 2305.14314) §3 / bitsandbytes create_normal_map(offset=0.9677083): 8 positive
    # quantiles of N(0,1) on linspace(offset, 0.5, 9), 7 negative ones on linspace(offset, 0.5, 8),
    # and an exact zero, normalised to [−1, 1].
    offset = 0.9677083
    pos = norm.ppf(np.linspace(offset, 0.5, 9)[:-1])
    neg = -norm.ppf(np.linspace(offset, 0.5, 8)[:-1])
    v = np.sort(np.concatenate([pos, [0.0], neg]))
    v /= v.max()
    assert len(formats.NF4_LEVELS) == 16 and formats.NF4_LEVELS[7] == 0.0
    np.testing.assert_allclose(formats.NF4_LEVELS, v, rtol=0, atol=2e-7)
    np.testing.assert_array_equal(formats.values(NF4), np.array(formats.NF4_LEVELS))


def test_nf4_record():
    assert NF4.bits == 4 and NF4.block_size == 64 and NF4.scale_rule == "absmax"
    assert NF4.bits_per_element == 4 + 32 / 64  # float32 absmax per 64 values (QLoRA §3)


def brute_nearest(t, levels, tie="even"):
    lv = np.asarray(levels, np.float32)
    out = []
    for v in np.asarray(t, np.float32).ravel():
        d = np.abs(lv - v)
        best = np.flatnonzero(d == d.min())
        if len(best) > 1:
            a, b = best[0], best[-1]
            if tie == "even":
                pick = a if a % 2 == 0 else b
            else:
                ma, mb = abs(lv[a]), abs(lv[b])
                if ma == mb:
                    pick = a if a % 2 == 0 else b
                elif tie == "toward_zero":
                    pick = a if ma < mb else b
                else:
                    pick = a if ma > mb else b
            best = [pick]
        out.append(best[0])
    return np.array(out).reshape(np.shape(t))


def test_nf4_encode_against_brute_force():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((5, 150)) * np.exp2(rng.integers(-10, 10, size=(5, 1)))).astype(np.float32)
    q = formats.encode(x, NF4)
    assert q.codes.shape == (5, 3, 64) and q.scales.shape == (5, 3)
    pad = np.zeros((5, 192), np.float32)
    pad[:, :150] = x
    blocks = pad.reshape(5, 3, 64)
    absmax = np.abs(blocks).max(-1)
    np.testing.assert_array_equal(formats.block_scales(q), absmax)
    t = (blocks / absmax[..., None]).astype(np.float32)
    np.testing.assert_array_equal(q.codes, brute_nearest(t, formats.NF4_LEVELS))
    np.testing.assert_array_equal(formats.decode(q), (np.float32(formats.NF4_LEVELS)[q.codes] * absmax[..., None])
                                  .reshape(5, 192)[:, :150])


def test_ternary_bitnet():
    # BitNet b1.58 (arXiv 2402.17764, eq. 1-3): gamma = mean|W|, W~ = RoundClip(W / gamma, -1, 1)
    fmt = formats.get("ternary_absmean")
    assert fmt.bits == 2 and fmt.block_size is None
    rng = np.random.default_rng(1)
    w = rng.standard_normal((16, 33)).astype(np.float32)
    q = formats.encode(w, fmt)
    gamma = np.float32(np.abs(w.astype(np.float64)).mean())
    assert abs(formats.block_scales(q) - gamma) <= 2e-7 * gamma
    ref = np.clip(np.round(w / gamma), -1, 1)
    t = np.abs(w / gamma)
    clear = np.abs(t - 0.5) > 1e-5  # away from the rounding boundary (gamma may differ by an ulp)
    np.testing.assert_array_equal((q.codes.astype(int) - 1)[clear], ref[clear])


def test_ternary_tie_goes_to_zero():
    fmt = formats.get("ternary_absmean")
    # ±0.5·gamma are ties: to 0, as torch.round (half to even) in the BitNet reference code
    w = np.array([0.5, -0.5, 1.5, -1.5], np.float32)  # mean|w| = 1; ±1.5 clip to ±1
    np.testing.assert_array_equal(formats.quantize(w, fmt), np.float32([0, 0, 1, -1]))


def test_ternary_stores_1_6_bits_per_element():
    """Five trits per byte (3^5 = 243 <= 256; BitNet b1.58's 1.58 bits, packed): 1.6 bits per
    code, not the 2 of an unpacked 2-bit code; bits_per_element, nbytes and pack() agree."""
    fmt = formats.get("ternary_absmean")
    assert fmt.bits == 2 and fmt.code_bits == 1.6 and fmt.bits_per_element == 1.6
    blocked = CodebookFormat((-1.0, 0.0, 1.0), 64, "absmean")
    assert blocked.bits_per_element == 1.6 + 32 / 64  # plus the float32 scale per 64
    for n in (1000, 1003, 4):
        w = np.random.default_rng(n).standard_normal(n).astype(np.float32)
        q = formats.encode(w, fmt)
        packed = q.pack()
        assert q.nbytes == len(packed) == -(-n // 5) + 4  # codes, then the float32 scale
        assert np.array_equal(formats.unpack_trits(packed, n), q.codes)
        assert q.bits_per_element == 1.6
    qb = formats.encode(np.random.default_rng(0).standard_normal((2, 128)).astype(np.float32), blocked)
    assert qb.nbytes == len(qb.pack()) == 256 // 5 + 1 + 4 * 4 and qb.bits_per_element == 2.1
    # other codebooks keep bits-wide codes
    assert formats.get("nf4").bits_per_element == 4.5 and formats.get("binary_absmean").bits_per_element == 1


def test_binary_sign_mean():
    # XNOR-Net (Rastegari et al. 2016, §3.1): B = sign(W), alpha = mean|W|; 0 → −1 (BitNet Sign)
    fmt = formats.get("binary_absmean")
    assert fmt.bits == 1 and fmt.bits_per_element == 1.0
    w = np.array([0.3, -2.0, 0.0, 1.7], np.float32)
    alpha = np.float32(np.abs(w).mean())
    np.testing.assert_array_equal(formats.quantize(w, fmt), np.float32([1, -1, -1, 1]) * alpha)
    assert list(formats.encode(w, fmt).codes) == [1, 0, 0, 1]


def test_user_codebook_roundings_and_ties():
    fmt = CodebookFormat((-2.0, -0.5, 0.0, 0.5, 2.0), scale_rule="none")
    assert fmt.bits == 3
    x = np.array([1.25, -1.25, 0.25, 0.3, 5.0, -5.0, np.nan, np.inf, 0.5], np.float32)
    enc = lambda **kw: formats.decode(formats.encode(x, fmt, **kw)).tolist()  # noqa: E731
    nan = 0.0  # NaN → the level of smallest magnitude
    # ties: 1.25 between 0.5 (code 3) and 2 (code 4) → even code 4; 0.25 → code 2 (0)
    assert enc() == [2.0, -2.0, 0.0, 0.5, 2.0, -2.0, nan, 2.0, 0.5]
    assert enc(rounding="nearest_away") == [2.0, -2.0, 0.5, 0.5, 2.0, -2.0, nan, 2.0, 0.5]
    assert enc(rounding="up") == [2.0, -0.5, 0.5, 0.5, 2.0, -2.0, nan, 2.0, 0.5]
    assert enc(rounding="down") == [0.5, -2.0, 0.0, 0.0, 2.0, -2.0, nan, 2.0, 0.5]
    assert enc(rounding="toward_zero") == [0.5, -0.5, 0.0, 0.0, 2.0, -2.0, nan, 2.0, 0.5]
    assert enc(rounding="odd") == [0.5, -0.5, 0.5, 0.5, 2.0, -2.0, nan, 2.0, 0.5]
    tz = CodebookFormat((-2.0, -0.5, 0.0, 0.5, 2.0), scale_rule="none", tie="toward_zero")
    assert formats.quantize(np.float32([1.25, -1.25, 0.25]), tz).tolist() == [0.5, -0.5, 0.0]
    t = np.linspace(-3, 3, 97).astype(np.float32)
    np.testing.assert_array_equal(formats.encode(t, fmt).codes, brute_nearest(t, fmt.levels))


def test_stochastic_codebook_unbiased():
    fmt = CodebookFormat((0.0, 1.0, 4.0), scale_rule="none")
    x = np.full(20000, 2.5, np.float32)
    v = formats.quantize(x, fmt, rounding="stochastic", key=3)
    assert set(np.unique(v)) == {1.0, 4.0} and abs(v.mean() - 2.5) < 0.05


def test_absmean_ignores_padding():
    fmt = CodebookFormat((-1.0, 0.0, 1.0), block_size=4, scale_rule="absmean")
    x = np.array([1, 1, 1, 1, 3, 3], np.float32)  # second block: two real elements, mean 3
    q = formats.encode(x, fmt)
    np.testing.assert_array_equal(formats.block_scales(q), np.float32([1, 3]))
    np.testing.assert_array_equal(formats.decode(q), x)


@pytest.mark.parametrize("kw,match", [
    (dict(levels=(1.0,)), "levels"),
    (dict(levels=(1.0, 0.0)), "ascending"),
    (dict(levels=(0.0, float("inf"))), "finite"),
    (dict(levels=(0.0, 1.0), scale_rule="rms"), "scale_rule"),
    (dict(levels=(0.0, 1.0), tie="up"), "tie"),
    (dict(levels=(0.0, 1.0), block_size=0), "block_size"),
])
def test_record_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        CodebookFormat(**kw)


def test_codebook_record_is_hashable_data():
    a = CodebookFormat([0, 1, 2], scale_rule="none")
    b = CodebookFormat((0.0, 1.0, 2.0), scale_rule="none")
    assert a == b and hash(a) == hash(b) and a.levels == (0.0, 1.0, 2.0)
