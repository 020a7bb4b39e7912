"""The ``thresholds`` bench suite runs at a tiny scale (timings are never asserted): one case per
entry of ``formats.backend.NUMBA_THRESHOLDS``, both sides timed at three sizes."""

from lowbit.formats.backend import NUMBA_THRESHOLDS
from lowbit.simulator.bench import _thresholds


def test_thresholds_suite_runs():
    rows = _thresholds.run(scale=1e-4)
    assert {r["case"].split(" n=")[0] for r in rows} == set(_thresholds.CASES.values())
    assert len(rows) == 2 * 3 * len(NUMBA_THRESHOLDS)
    assert all(r["suite"] == "thresholds" and r["seconds"] > 0 for r in rows)
    assert {r["impl"] for r in rows} >= {"numpy vectorized", "numba", "numba specialized loop"}
