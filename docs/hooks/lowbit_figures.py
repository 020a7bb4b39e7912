"""MkDocs hook: figures of the hardware presets, drawn from their cost models when the site is
built (never committed, never drawn by hand).

A page asks for a figure with a marker line ``<!-- lowbit:figure NAME -->``:

``roofline-all`` / ``roofline-KIND``
    attained throughput of every preset (of one kind: ``systolic``, ``bitserial``, ``lutgemm``,
    ``wafer``, ``gpu``) for GEMMs m×4096×4096 with m = 1 … 4096, against their arithmetic
    intensity (operations per DRAM byte, from ``Cost.accesses``) with each preset's roofline —
    its highest attained rate and its highest DRAM bandwidth — dashed; against m for machines
    without DRAM (the wafer keeps everything in SRAM);
``energy-all`` / ``energy-KIND``
    where the energy of a decode GEMV (1×4096×4096) and a prefill GEMM (2048×4096×4096) goes,
    by category, per preset, with the total in pJ per MAC;
``hw-KIND``
    both of the above for one kind (the machine pages);
``sweep``
    a ``simulator.sweep`` of a Llama-2-7B decode step over machines × weight formats, plotted
    with ``simulator.plot_pareto`` (points labelled with their format pair).

Images go to ``images/generated/<NAME>.png`` in the site.
"""

from __future__ import annotations

import io
import posixpath
import re

MARKER = re.compile(r"^<!-- lowbit:figure ([\w-]+) -->$", flags=re.M)
IMAGE_DIR = "images/generated"
KINDS = ("systolic", "bitserial", "lutgemm", "wafer", "gpu")
GEMM_K = GEMM_N = 4096
M_VALUES = tuple(2**i for i in range(13))  # 1 ... 4096 rows (tokens in flight)
DPI = 110

_figures: dict[str, bytes] = {}


def _kind(machine) -> str:
    from lowbit import hwmodels

    classes = {hwmodels.SystolicArray: "systolic", hwmodels.BitSerialArray: "bitserial",
               hwmodels.LutGemmUnit: "lutgemm", hwmodels.WaferMesh: "wafer", hwmodels.GPU: "gpu"}
    return classes.get(type(machine), type(machine).__name__)


def machines(kind: str = "all"):
    """[(preset name, machine)] of every preset, or of one kind."""
    from lowbit import hwmodels

    if kind != "all" and kind not in KINDS:
        raise ValueError(f"figure kind must be 'all' or one of {KINDS}, got {kind!r}")
    out = [(n, hwmodels.presets.get(n)) for n in hwmodels.presets.names()]
    return [(n, m) for n, m in out if kind == "all" or _kind(m) == kind]


def _dram_bytes(cost) -> float:
    return float(sum(v for k, v in cost.accesses.items() if k.endswith("dram_bytes")))


def curves(kind: str = "all"):
    """{preset: [(m, ops per second, DRAM bytes, seconds)]} of native-format GEMMs m×4096×4096."""
    out = {}
    for name, machine in machines(kind):
        pts = []
        for m in M_VALUES:
            try:
                c = machine.gemm(m, GEMM_K, GEMM_N)
            except (ValueError, TypeError):
                continue
            if c.seconds > 0:
                pts.append((m, 2.0 * m * GEMM_K * GEMM_N / c.seconds, _dram_bytes(c), c.seconds))
        if pts:
            out[name] = pts
    return out


def _roofline_axes(ax, kind: str) -> None:
    data = curves(kind)
    by_intensity = all(all(b > 0 for _, _, b, _ in pts) for pts in data.values())
    for i, (name, pts) in enumerate(data.items()):
        color = f"C{i % 10}"
        ops = [p[1] for p in pts]
        if by_intensity:
            x = [2.0 * m * GEMM_K * GEMM_N / b for m, _, b, _ in pts]
            ax.plot(x, ops, "o-", ms=3, lw=1.2, color=color, label=name)
            peak = max(ops)
            bw = max(b / s for _, _, b, s in pts)
            xs = [min(x) / 2, peak / bw, max(x) * 2]
            ax.plot(xs, [min(peak, v * bw) for v in xs], "--", lw=0.8, color=color, alpha=0.7)
        else:
            ax.plot([p[0] for p in pts], ops, "o-", ms=3, lw=1.2, color=color, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (operations per DRAM byte)" if by_intensity
                  else "m (rows of the activation operand: tokens in flight)")
    ax.set_ylabel("attained operations per second")
    ax.set_title(f"GEMM m×{GEMM_K}×{GEMM_N}, m = 1 … {M_VALUES[-1]}, native formats"
                 + ("; dashed: each preset's roofline" if by_intensity else ""), fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(data) > 6 else 1)


def _energy_axes(ax, kind: str) -> None:
    from lowbit import hwmodels

    rows = []
    for name, machine in machines(kind):
        for label, m in (("GEMV 1", 1), ("GEMM 2048", 2048)):
            try:
                c = machine.gemm(m, GEMM_K, GEMM_N)
            except (ValueError, TypeError):
                continue
            rows.append((f"{name}  ({label}×{GEMM_K}×{GEMM_N})", c.breakdown, c.energy_pj / c.macs))
    cats = [c for c in hwmodels.CATEGORIES if any(b.get(c, 0.0) > 0 for _, b, _ in rows)]
    y = list(range(len(rows)))[::-1]
    left = [0.0] * len(rows)
    for j, cat in enumerate(cats):
        share = [100.0 * b.get(cat, 0.0) / sum(b.values()) if sum(b.values()) > 0 else 0.0
                 for _, b, _ in rows]
        ax.barh(y, share, left=left, color=f"C{j}", label=cat, height=0.7)
        left = [a + s for a, s in zip(left, share, strict=True)]
    for yi, (_, _, per_mac) in zip(y, rows, strict=True):
        ax.text(101, yi, f"{per_mac:.3g} pJ/MAC", va="center", fontsize=7)
    ax.set_yticks(y)
    ax.set_yticklabels([r[0] for r in rows], fontsize=7)
    ax.set_xlim(0, 122)
    ax.set_xticks([0, 25, 50, 75, 100])
    ax.set_xlabel("share of the energy (%); right: total energy per MAC")
    ax.set_title("where the energy goes (native formats)", fontsize=9)
    ax.legend(fontsize=7, ncol=len(cats), loc="upper center", bbox_to_anchor=(0.45, -0.12 - 0.4 / max(len(rows), 1)))


def _new_figure(w, h):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h))


def figure(name: str):
    """The matplotlib Figure of a marker name (see the module docstring)."""
    kind_of = name.split("-", 1)[1] if "-" in name else None
    if name.startswith("roofline-"):
        fig = _new_figure(8.5, 5.2)
        _roofline_axes(fig.add_subplot(), kind_of)
    elif name.startswith("energy-"):
        n = len(machines(kind_of)) * 2
        fig = _new_figure(8.5, 1.4 + 0.24 * n)
        _energy_axes(fig.add_subplot(), kind_of)
    elif name.startswith("hw-"):
        n = len(machines(kind_of)) * 2
        fig = _new_figure(8.5, 5.0 + 1.4 + 0.24 * n)
        gs = fig.add_gridspec(2, 1, height_ratios=[5.0, 1.4 + 0.24 * n])
        _roofline_axes(fig.add_subplot(gs[0]), kind_of)
        _energy_axes(fig.add_subplot(gs[1]), kind_of)
    elif name == "sweep":
        from lowbit import simulator

        df = simulator.sweep("llama2-7b-decode", ["systolic-128x128", "tpu-v1", "tmac", "lut-tensor-core",
                                                  "h100"],
                             ["bfloat16", "float8_e4m3fn", "int8", "mxfp4", "nvfp4", "int4"],
                             "float8_e4m3fn", progress=False)
        df["time per token (s)"] = df["seconds"]
        df["energy per token (J)"] = df["energy_pj"] * 1e-12
        fig = simulator.plot_pareto(df, "time per token (s)", "energy per token (J)",
                                    title="llama2-7b-decode, batch 1, context 2048")
        fig.set_size_inches(9, 5.8)
    else:
        raise ValueError(f"unknown figure {name!r}")
    fig.tight_layout()
    return fig


def png(name: str) -> bytes:
    """The figure as PNG bytes (drawn once per build)."""
    if name not in _figures:
        buf = io.BytesIO()
        figure(name).savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
        _figures[name] = buf.getvalue()
    return _figures[name]


_CAPTIONS = {
    "roofline": "Attained throughput of the presets' cost models for GEMMs of growing m (each "
                "point one m); the dashed lines are each preset's roofline (its highest attained "
                "rate and its highest DRAM bandwidth).",
    "energy": "Share of each energy category for a decode GEMV and a prefill GEMM on each preset, "
              "with the total energy per multiply-accumulate.",
    "hw": "Top: attained throughput for GEMMs of growing m with each preset's roofline (dashed). "
          "Bottom: where the energy of a decode GEMV and a prefill GEMM goes.",
    "sweep": "A sweep of a Llama-2-7B decode step over machines and weight formats (FP8 "
             "activations): each point is labelled with its weight · activation formats, the "
             "Pareto front of time and energy is circled. The same plot from the command line: "
             "`lowbit sweep ... --plot sweep.png`.",
}


def caption(name: str) -> str:
    from lowbit import __version__

    return (f"*{_CAPTIONS[name.split('-', 1)[0]]} Drawn from the preset files by lowbit "
            f"{__version__} when this site was built.*")


def markers(markdown: str) -> list[str]:
    return MARKER.findall(markdown)


def on_files(files, config, **kwargs):  # mkdocs hook
    from mkdocs.structure.files import File

    names = set()
    for f in files.documentation_pages():
        if f.abs_src_path:
            with open(f.abs_src_path, encoding="utf-8") as fh:
                names.update(markers(fh.read()))
    for name in sorted(names):
        files.append(File.generated(config, f"{IMAGE_DIR}/{name}.png", content=png(name)))
    return files


def on_page_markdown(markdown, page, config, files, **kwargs):  # mkdocs hook
    def repl(m):
        name = m.group(1)
        target = f"{IMAGE_DIR}/{name}.png"
        rel = posixpath.relpath(target, posixpath.dirname(page.file.src_uri) or ".")
        return f"![{name}]({rel}){{ .lowbit-figure }}\n\n{caption(name)}"

    return MARKER.sub(repl, markdown)
