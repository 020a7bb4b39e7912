"""Codes to and from ml_dtypes arrays (one call each way)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from _fmt_helpers import ids, ml_dtype_of

from lowbit import formats

VIEWABLE = [f for f in formats.select(lambda f: f.bits <= 16)
            if f.name != "float16" and ml_dtype_of(f) is not None]


@pytest.mark.parametrize("fmt", VIEWABLE, ids=ids(VIEWABLE))
def test_round_trip_through_ml_dtypes(fmt):
    dt = ml_dtype_of(fmt)
    codes = np.arange(fmt.num_codes).reshape(-1, 2 if fmt.num_codes > 1 else 1)
    q = formats.QArray(codes=codes.astype(np.uint16 if fmt.bits > 8 else np.uint8), format=fmt,
                       shape=codes.shape)
    a = formats.to_ml_dtypes(q)
    assert a.dtype == dt and a.shape == q.shape
    with np.errstate(invalid="ignore"):
        want = formats.decode(q, dtype=np.float64)
        got = a.astype(np.float64)
    assert np.array_equal(got, want, equal_nan=True)
    back = formats.from_ml_dtypes(a)
    assert back.format == fmt and back.shape == q.shape
    assert np.array_equal(back.codes, q.codes)


def test_from_ml_dtypes_values():
    x = np.float32([1.1, -3.0, 1000.0, 1e-4])
    a = x.astype(ml_dtypes.float8_e5m2)
    q = formats.from_ml_dtypes(a)
    assert q.format is formats.get("float8_e5m2")
    assert np.array_equal(formats.decode(q), a.astype(np.float32))
    assert np.array_equal(q.codes, formats.encode(x, "float8_e5m2").codes)
    i4 = np.array([-8, -1, 0, 7], dtype=ml_dtypes.int4)
    assert formats.from_ml_dtypes(i4).codes.tolist() == [8, 15, 0, 7]
    assert formats.from_ml_dtypes(i4, "int4").format == formats.get("int4")


def test_errors():
    with pytest.raises(ValueError, match="ml_dtypes"):
        formats.to_ml_dtypes(formats.encode(np.float32([1.0]), "tf32"))
    with pytest.raises(ValueError, match="dtype"):
        formats.from_ml_dtypes(np.float32([1.0]).astype(ml_dtypes.float8_e5m2), "float8_e4m3fn")
