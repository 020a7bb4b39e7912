"""Bench suite "blocks": quantizing a 4096×4096 float32 matrix to MXFP4, MXFP8 (E4M3) and NVFP4
along the last axis (issue: scaled and block formats).

Side by side in one run: lowbit ``encode`` (codes + scales) and ``quantize`` (fake-quantized
float32) on NumPy input (fused Numba loops) and under ``jax.jit``, torchao 0.18 on CPU
(``to_mx`` / ``nvfp4_quantize``: codes + scales, the counterpart of ``encode``), and a NumPy
copy of the matrix (the bandwidth floor). Ratios: ``x_copy`` (seconds / copy seconds) and
``speedup_vs_torchao`` (torchao seconds / seconds). Targets (issue 3): lowbit ≥ 10× faster than
torchao and ≤ 3× the copy.
"""

from __future__ import annotations

import functools

import numpy as np

from ._main import Progress, not_installed, peer, timeit

N_FULL = 4096
CASES = ("mxfp4", "mxfp8_e4m3", "nvfp4")


def _torchao(name):
    import torch

    if name == "nvfp4":
        from torchao.prototype.mx_formats.nvfp4_tensor import nvfp4_quantize, per_tensor_amax_to_scale

        def run(xt):
            return nvfp4_quantize(xt, 16, per_tensor_amax_to_scale(xt.abs().max()))

        return run
    from torchao.prototype.mx_formats.mx_tensor import to_mx

    dt = torch.float4_e2m1fn_x2 if name == "mxfp4" else torch.float8_e4m3fn
    return lambda xt: to_mx(xt, dt, 32)


def run(scale: float = 1.0, progress: Progress | None = None) -> list[dict]:
    from lowbit import formats

    progress = progress or Progress()
    jax, torch, torchao = peer("jax"), peer("torch"), peer("torchao")

    n = max(int(N_FULL * scale ** 0.5) // 32 * 32, 64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n)).astype(np.float32)
    reps = 10 if scale >= 1 else 2
    # a process's first calls on fresh 64 MB outputs pay for mapping the pages (up to several
    # times the steady state): warm every implementation for as many calls as are timed
    warm = reps
    rows = []

    def add(case, impl, seconds, **kw):
        rows.append(dict(suite="blocks", case=f"{case} {n}x{n}", impl=impl, seconds=seconds,
                         ns_per_element=seconds / x.size * 1e9, **kw))

    t_copy = timeit(lambda: x.copy(), repeats=reps, warmup=warm)
    if jax is not None:
        import jax.numpy as jnp

        xj = jnp.asarray(x)
    xt = torch.from_numpy(x) if torch is not None and torchao is not None else None
    for name in CASES:
        fmt = formats.get(name)
        start = len(rows)
        progress.case("blocks", f"{name} {n}x{n}")
        add(name, "numpy copy (floor)", t_copy)
        tm = functools.partial(timeit, repeats=reps, warmup=warm)
        add(name, "lowbit numpy encode", tm(lambda: formats.encode(x, fmt)))
        add(name, "lowbit numpy quantize", tm(lambda: formats.quantize(x, fmt)))
        if jax is None:
            progress.skip("blocks", "lowbit jax.jit encode, quantize", not_installed("jax"))
        else:
            f_enc = jax.jit(lambda v: formats.encode(v, fmt))
            add(name, "lowbit jax.jit encode", tm(lambda: jax.block_until_ready(f_enc(xj))))
            f_q = jax.jit(lambda v: formats.quantize(v, fmt))
            add(name, "lowbit jax.jit quantize", tm(lambda: f_q(xj).block_until_ready()))
        t_ao = None
        if xt is None:
            progress.skip("blocks", "torchao cpu (codes + scales)",
                          not_installed("torch" if torch is None else "torchao"))
        else:
            ao = _torchao(name)
            t_ao = tm(lambda: ao(xt))
            add(name, "torchao cpu (codes + scales)", t_ao, note=f"torch threads {torch.get_num_threads()}")
        for r in rows[start + 1:]:  # every row but the floor itself
            r["x_copy"] = r["seconds"] / t_copy
            if t_ao is not None and not r["impl"].startswith("torchao"):
                r["speedup_vs_torchao"] = t_ao / r["seconds"]
        progress.rows(rows[start:])
    return rows
