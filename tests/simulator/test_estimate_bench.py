"""The ``hw`` bench suite runs (at a tiny scale; timings are never asserted)."""

from lowbit.simulator.bench import _hw as _bench_hw


def test_bench_hw_runs_at_tiny_scale():
    rows = _bench_hw.run(0.001)
    assert {r["impl"] for r in rows} >= {"gemm_batch", "gemm_cycles", "gemm (scalar, new shapes)",
                                         "gemm (scalar, cached)", "scalesim mode (CALC)"}
    for r in rows:
        assert r["suite"] == "hw" and r["seconds"] > 0 and "evaluations/s" in r["note"]
