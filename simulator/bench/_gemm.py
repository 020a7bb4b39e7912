"""Bench suite "gemm": seconds to emulate an n×n×n GEMM bit-exactly (n = 512 at scale 1).

Cases (each timed with the NumPy and the JAX backend, from float32 / int8 input arrays, i.e.
including the quantization of the operands; JAX timed after a warm-up call that compiles):

* ``mxfp8_e4m3`` operands, float32 sequential accumulation of the OCP MX block dot products;
* the same with every scaled element product added one by one (``block_reduce="accumulator"``);
* ``int8 × int8`` with int32 (wrapping) accumulation;
* ``int8 × int8`` with saturating int32 accumulation (order-dependent: a real sequential loop);
* ``float8_e4m3fn`` operands with a bfloat16 accumulator (the general round-after-every-add path).

Ratios: ``x_blas`` (seconds / a float64 NumPy BLAS GEMM of the same shape, the floor) and
``x_numpy`` (seconds / the NumPy backend's). JAX rows are skipped when JAX is not installed.
"""

from __future__ import annotations

import time

import numpy as np

from ._main import Progress, not_installed, peer, timeit

N_FULL = 512


def _cases():
    from ..emulate._accumulate import Accumulator

    mx = dict(a_format="mxfp8_e4m3", b_format="mxfp8_e4m3", accumulator="float32")
    return [
        ("mxfp8_e4m3 x mxfp8_e4m3, float32 sequential (block dot)", "float", mx),
        ("mxfp8_e4m3 x mxfp8_e4m3, float32 sequential (per element)", "float", dict(mx, block_reduce="accumulator")),
        ("int8 x int8, int32 wrap", "int", dict(accumulator="int32")),
        ("int8 x int8, int32 saturate", "int", dict(accumulator=Accumulator("int32", overflow="saturate"))),
        ("float8_e4m3fn x float8_e4m3fn, bfloat16 sequential", "float",
         dict(a_format="float8_e4m3fn", b_format="float8_e4m3fn", accumulator="bfloat16")),
    ]


def run(scale: float = 1.0, progress: Progress | None = None) -> list[dict]:
    from ..emulate._matmul_dispatch import matmul

    progress = progress or Progress()
    jax = peer("jax")
    n = max(32, int(round(N_FULL * scale / 32)) * 32)
    rng = np.random.default_rng(0)
    xf = rng.standard_normal((n, n)).astype(np.float32)
    wf = rng.standard_normal((n, n)).astype(np.float32)
    xi = rng.integers(-128, 128, (n, n), dtype=np.int8)
    wi = rng.integers(-128, 128, (n, n), dtype=np.int8)
    reps = 3 if scale >= 1 else 1
    t_blas = timeit(lambda: xf.astype(np.float64) @ wf.astype(np.float64), repeats=reps, warmup=1)
    rows: list[dict] = []
    for case, kind, kw in _cases():
        a, b = (xf, wf) if kind == "float" else (xi, wi)
        slow = "bfloat16" in case
        label = f"{case} {n}x{n}x{n}"
        progress.case("gemm", label)
        start = len(rows)
        rows.append(dict(suite="gemm", case=label, impl="float64 BLAS (floor)", seconds=t_blas,
                         note="numpy float64 matmul incl. the casts"))
        t_np = timeit(lambda: matmul(a, b, **kw), repeats=1 if slow else reps, warmup=0 if slow else 1)
        rows.append(dict(suite="gemm", case=label, impl="numpy", seconds=t_np,
                         note="" if not slow else "one run"))
        if jax is None:
            progress.skip("gemm", "jax (jit)", not_installed("jax"))
        else:
            import jax.numpy as jnp

            ja, jb = jnp.asarray(a), jnp.asarray(b)
            t0 = time.perf_counter()
            ref = matmul(ja, jb, **kw).block_until_ready()
            t_first = time.perf_counter() - t0
            t_jax = timeit(lambda: matmul(ja, jb, **kw).block_until_ready(), repeats=reps, warmup=0)
            same = bool(np.array_equal(np.asarray(ref), matmul(a, b, **kw), equal_nan=True))
            rows.append(dict(suite="gemm", case=label, impl="jax (jit)", seconds=t_jax,
                             note=f"first call incl. compile {t_first:.2f} s; bit-identical to numpy: {same}"))
        for r in rows[start + 1:]:  # every row against the floor and the NumPy backend
            r["x_blas"] = r["seconds"] / t_blas
            if r["impl"] != "numpy":
                r["x_numpy"] = r["seconds"] / t_np
        progress.rows(rows[start:])
    return rows
