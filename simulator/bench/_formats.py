"""Bench suite "formats": ns/element for fake-quantizing float32 values (issue: format core).

Side by side in one run: lowbit (NumPy input → Numba kernel), lowbit under ``jax.jit``,
ml_dtypes ``astype(fmt).astype(float32)``, gfloat ``round_ndarray``, JAX's own
``x.astype(jnp.float8_e4m3fn).astype(jnp.float32)`` and a NumPy copy (the bandwidth floor).
Ratios are against the copy (``x_copy``) and against ml_dtypes (``speedup_vs_ml_dtypes``).
A reference library that is not installed is skipped (see ``_main.peer``).
"""

from __future__ import annotations

import numpy as np

from ._main import Progress, not_installed, peer, timeit

N_FULL = 10_000_000
CASES = ("float8_e4m3fn", "float4_e2m1fn")


def run(scale: float = 1.0, progress: Progress | None = None) -> list[dict]:
    from lowbit import formats

    progress = progress or Progress()
    ml_dtypes, gfloat, jax = peer("ml_dtypes"), peer("gfloat"), peer("jax")

    n = max(int(N_FULL * scale), 1024)
    gfloat_n = max(n // 10, 1024)  # gfloat is slow: time a tenth, report per element
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    reps = 5 if scale >= 1 else 2
    # steady state: the first handful of calls on fresh 40 MB outputs pay an OS page-mapping
    # transient (measured: calls 3-6 of a process ~8x slower), for every implementation
    warm = 10 if scale >= 1 else 1
    rows = []

    def add(case, impl, seconds, count, **kw):
        rows.append(dict(suite="formats", case=f"{case} n={n}", impl=impl, seconds=seconds,
                         ns_per_element=seconds / count * 1e9, **kw))

    t_copy = timeit(lambda: x.copy(), repeats=reps, warmup=warm)
    for name in CASES:
        fmt = formats.get(name)
        start = len(rows)
        progress.case("formats", f"{name} n={n}")
        add(name, "numpy copy (floor)", t_copy, n)
        t_lb = timeit(lambda: formats.quantize(x, fmt), repeats=reps, warmup=warm)
        add(name, "lowbit numpy", t_lb, n)

        t_ml = None
        if ml_dtypes is None:
            progress.skip("formats", "ml_dtypes astype round trip", not_installed("ml_dtypes"))
        else:
            mdt = getattr(ml_dtypes, name)
            t_ml = timeit(lambda: x.astype(mdt).astype(np.float32), repeats=reps, warmup=warm)
            add(name, "ml_dtypes astype round trip", t_ml, n)

        if gfloat is None:
            progress.skip("formats", "gfloat round_ndarray", not_installed("gfloat"))
        else:
            from gfloat.formats import format_info_ocp_e2m1, format_info_ocp_e4m3

            fi = format_info_ocp_e4m3 if name == "float8_e4m3fn" else format_info_ocp_e2m1
            xs = x[:gfloat_n].astype(np.float64)
            t_gf = timeit(lambda: gfloat.round_ndarray(fi, xs, sat=True), repeats=max(reps - 2, 1), warmup=1)
            add(name, "gfloat round_ndarray", t_gf * n / gfloat_n, n,
                note=f"timed on {gfloat_n} elements, scaled")

        jdt = t_jlb = t_jx = None
        if jax is None:
            progress.skip("formats", "lowbit jax.jit, jax astype", not_installed("jax"))
        else:
            import jax.numpy as jnp

            xj = jnp.asarray(x)
            f_lb = jax.jit(lambda v: formats.quantize(v, fmt))
            t_jlb = timeit(lambda: f_lb(xj).block_until_ready(), repeats=reps, warmup=warm)
            add(name, "lowbit jax.jit", t_jlb, n)
            jdt = getattr(jnp, name, None)
            if jdt is not None:
                f_jx = jax.jit(lambda v: v.astype(jdt).astype(jnp.float32))
                t_jx = timeit(lambda: f_jx(xj).block_until_ready(), repeats=reps, warmup=warm)
                add(name, "jax astype round trip", t_jx, n)
        for r in rows[start + 1:]:  # every row but the floor itself
            r["x_copy"] = r["seconds"] / t_copy
            if t_ml is not None and not r["impl"].startswith("ml_dtypes"):
                r["speedup_vs_ml_dtypes"] = t_ml / r["seconds"]
            if t_jx is not None and t_jlb is not None and r["impl"] == "lowbit jax.jit":
                r["x_jax_astype"] = t_jlb / t_jx
        progress.rows(rows[start:])
    return rows
