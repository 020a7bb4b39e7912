"""One ``MULTIPLIERS`` and one ``default_accumulator`` (``formats``), shared by the emulator
(``simulator.matmul``) and the cost model (``hwmodels``): for every pair of registered scalar
format families and every multiplier, neither one, left without ``accumulator=``, accumulates
anywhere else than ``formats.default_accumulator`` says (before, LNS × LNS was priced with an
LNS accumulator and emulated with float32)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lowbit import formats, hwmodels, simulator

#: the families of registered formats that hold one value per code (no scale, table or vector)
SCALAR_FAMILIES = ("float", "int", "posit", "lns")


def _representatives():
    """Every registered format of the scalar families of at most 16 bits, and the widest of each
    family above (a product must stay exact for the emulator to run it)."""
    out = {}
    for fam in SCALAR_FAMILIES:
        fmts = formats.select(family=fam)
        assert fmts, fam
        out[fam] = [f for f in fmts if f.bits <= 8][:4] + [max(fmts, key=lambda f: f.bits)]
    return out


REPS = _representatives()
PAIRS = [(fa, fb, m) for fa, fb in itertools.product(SCALAR_FAMILIES, repeat=2) for m in formats.MULTIPLIERS]


def test_the_rule():
    i8, f8 = formats.get("int8"), formats.get("float8_e4m3fn")
    assert formats.default_accumulator(i8, "int4") == formats.get("int32")
    assert formats.default_accumulator("int8", "int8", "lns") == formats.get("float32")
    for a, b in [(f8, f8), (i8, f8), ("lns8", "lns8"), ("posit8", "posit8"), ("mxint8", "mxint8"),
                 ("nf4", "int8"), (formats.ScaledIntFormat(i8, "tensor"), i8)]:
        for m in formats.MULTIPLIERS:
            assert formats.default_accumulator(a, b, m) == formats.get("float32"), (a, b, m)
    with pytest.raises(ValueError, match="multiplier must be one of"):
        formats.default_accumulator(i8, i8, "booth")
    with pytest.raises(TypeError, match="b_format"):
        formats.default_accumulator(i8, 3)
    assert formats.MULTIPLIERS == ("exact", "lmul", "lns")


def _operands(fmt, rng):
    x = rng.standard_normal((3, 16)).astype(np.float32)
    if fmt.family == "int":
        x = np.clip(np.round(x * 3), fmt.min, fmt.max).astype(np.float32)
    return x


@pytest.mark.parametrize("fa, fb, multiplier", PAIRS, ids=[f"{a}x{b}-{m}" for a, b, m in PAIRS])
def test_emulator_and_cost_model_accumulate_alike(fa, fb, multiplier):
    rng = np.random.default_rng(0)
    checked = 0
    for a, b in itertools.product(REPS[fa], REPS[fb]):
        want = formats.default_accumulator(a, b, multiplier)
        # the cost model
        try:
            cost = hwmodels.mac_energy(a, b, multiplier=multiplier)
        except ValueError:  # an invalid combination (L-Mul of non-floats, ...) is invalid either way
            with pytest.raises(ValueError):
                hwmodels.mac_energy(a, b, want, multiplier=multiplier)
        else:
            assert cost == hwmodels.mac_energy(a, b, want, multiplier=multiplier), (a, b)
            checked += 1
        # the emulator
        x, w = _operands(a, rng), _operands(b, rng).T.copy()
        kw = dict(a_format=a, b_format=b, multiplier=multiplier)
        try:
            out = simulator.matmul(x, w, **kw)
        except ValueError:  # the emulator rejects the operands (posits, ...) whatever the accumulator
            with pytest.raises(ValueError):
                simulator.matmul(x, w, accumulator=want, **kw)
            continue
        ref = simulator.matmul(x, w, accumulator=want, **kw)
        assert out.dtype == ref.dtype and np.array_equal(out, ref, equal_nan=True), (a, b)
        checked += 1
    valid = multiplier == "exact" or fa == fb == {"lmul": "float", "lns": "lns"}[multiplier]
    assert checked or not valid, "no combination of a valid pair ran"


def test_lns_products_accumulate_in_float32_in_both():
    """The case that disagreed: LNS × LNS with the log-domain multiplier."""
    lns = formats.get("lns8")
    assert formats.default_accumulator(lns, lns, "lns") == formats.get("float32")
    e = hwmodels.mac_energy(lns, lns, multiplier="lns")
    assert e == hwmodels.mac_energy(lns, lns, "float32", multiplier="lns")
    assert e != hwmodels.mac_energy(lns, lns, lns, multiplier="lns")  # an LNS adder costs otherwise
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    out = simulator.matmul(x, x.T.copy(), a_format=lns, b_format=lns, multiplier="lns")
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="multiplier='lns' needs LNS operands"):
        hwmodels.mac_energy("int8", lns, multiplier="lns")
