"""The ``gemm`` bench suite runs at a tiny scale (timings are never asserted) and its JAX and
NumPy results agree."""

from lowbit.simulator.bench import _gemm as _bench_gemm


def test_bench_gemm_runs_at_tiny_scale():
    rows = _bench_gemm.run(0.01)
    assert {r["impl"] for r in rows} == {"float64 BLAS (floor)", "numpy", "jax (jit)"}
    assert all(r["seconds"] > 0 for r in rows)
    assert all("bit-identical to numpy: True" in r["note"] for r in rows if r["impl"] == "jax (jit)")
    # ratios from the same run: every row but the floor is compared with the floor
    assert all(r["x_blas"] > 0 for r in rows if r["impl"] != "float64 BLAS (floor)")
    assert all("32x32x32" in r["case"] for r in rows)
