"""``estimate``: lower a workload onto a machine and add up the costs into a ``Report``."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import workloads as _wl  # the module simulator/workloads.py

__all__ = ["estimate", "Report", "resolve_workload", "resolve_hardware"]


def resolve_workload(workload):
    """A workload object from a workload, a registered name, or a sequence of workloads."""
    if isinstance(workload, str):
        return _wl.get(workload)
    if hasattr(workload, "layers") and callable(workload.layers):
        return workload
    if isinstance(workload, Sequence) and workload and all(
            hasattr(w, "layers") for w in workload):
        return _Composite(tuple(workload))
    raise TypeError("workload must be a registered name, a workload (Gemm, Conv2d, Attention, "
                    f"Transformer) or a sequence of workloads, got {type(workload).__name__}")


@dataclasses.dataclass(frozen=True)
class _Composite:
    parts: tuple
    name: str = "composite"

    def layers(self):
        return tuple(g for p in self.parts for g in p.layers())

    def memory(self):
        out = {"weights": 0, "kv_cache": 0, "activations": 0}
        for p in self.parts:
            m = p.memory()
            out["weights"] += m["weights"]
            out["kv_cache"] += m["kv_cache"]
            out["activations"] = max(out["activations"], m["activations"])
        return out


def resolve_hardware(hw):
    """A machine record from a record, a preset name, or a path to a preset YAML file."""
    from lowbit import hwmodels

    if isinstance(hw, str):
        if hw.endswith((".yaml", ".yml")):
            return hwmodels.presets.load(hw)
        return hwmodels.presets.get(hw)
    if hasattr(hw, "gemm") and callable(hw.gemm):
        return hw
    raise TypeError(f"hw must be a machine record or a preset name, got {type(hw).__name__}")


def _format(fmt, param):
    from lowbit.hwmodels import resolve_accumulator, resolve_format

    if param == "accumulator":
        return resolve_accumulator(fmt, param)  # scalar formats only, as simulator.matmul
    return resolve_format(fmt, param)


def memory_capacity_bytes(machine) -> float | None:
    """The memory a workload must fit on ``machine``, bytes, or None when the record has none.

    A GPU holds the model in its HBM (``hbm_bytes``); a wafer-scale mesh in its on-wafer SRAM
    (``sram_bytes``). The other machines (systolic, bit-serial, LUT-GEMM) stream operands from
    a DRAM whose capacity their records do not state (their SRAM sizes are buffers): None.
    """
    cap = getattr(machine, "memory_capacity_bytes", None)
    return None if cap is None else float(cap)


def _fmt_name(rec) -> str:
    if rec is None:
        return ""
    return str(getattr(rec, "name", "") or rec)


def _bits(rec) -> float:
    from lowbit.hwmodels import operand

    return operand(rec).storage_bits


@dataclasses.dataclass(frozen=True, eq=False)
class Report:
    """The result of :func:`estimate`.

    Attributes:
        workload: workload name. hardware: machine name.
        formats: ``{"weights", "activations", "kv_cache", "accumulator"}`` → format names.
        cost: the total :class:`hwmodels.Cost`.
        layers: per-layer table (pandas DataFrame), one row per lowered GEMM (all its
            ``count`` repetitions of ``batch`` GEMMs): name, kind, m, k, n, count, batch, macs,
            cycles, stall_cycles, seconds, energy_pj, ``<category>_pj``, utilization, the time
            each resource was busy (``compute_s``, ``dram_s``, ``sram_s``, ``network_s``,
            ``overhead_s``), ``bound`` (``memory`` when a memory time exceeds the compute time),
            DRAM bytes per operand (``a_dram_bytes``, ``b_dram_bytes``, ``c_dram_bytes``) and
            the machine's ``mapping`` of the GEMM (text; empty where it has none).
        footprint: resident memory, bytes, at true bits per element: ``weights_bytes``,
            ``kv_cache_bytes``, ``activations_bytes``, ``total_bytes`` (with a recipe also
            ``metadata_bytes`` and its parts).
        capacity_bytes: the machine's memory that the footprint must fit (a GPU's HBM, a
            wafer's SRAM), or None when the machine record states none (systolic, bit-serial,
            LUT-GEMM: their DRAM is not modelled as finite).
        fits: ``total_bytes <= capacity_bytes`` — True, False, or None when the capacity is
            unknown. A report that does not fit still carries the time and energy the machine
            would take if it had the memory; the CLI warns on stderr.

    Reports add (``+``: costs add, layer tables concatenate, footprints take the larger of each
    part — sequential phases reuse memory) and scale (``* n``: n repetitions, e.g. decode steps).
    """

    workload: str
    hardware: str
    formats: Mapping
    cost: Any  # a hwmodels.Cost
    layers: Any  # a pandas DataFrame
    footprint: Mapping
    capacity_bytes: float | None = None

    # ---------------------------------------------------------------- totals
    @property
    def cycles(self) -> float:
        return self.cost.cycles

    @property
    def seconds(self) -> float:
        return self.cost.seconds

    @property
    def energy_pj(self) -> float:
        return self.cost.energy_pj

    @property
    def energy_j(self) -> float:
        return self.cost.energy_j

    @property
    def breakdown(self) -> dict:
        """Energy by category, pJ (every category of :data:`hwmodels.CATEGORIES`)."""
        from lowbit import hwmodels

        out = {c: self.cost.breakdown.get(c, 0.0) for c in hwmodels.CATEGORIES}
        out.update({k: v for k, v in self.cost.breakdown.items() if k not in out})
        return out

    @property
    def utilization(self) -> float:
        return self.cost.utilization

    @property
    def bound(self) -> str:
        """``"memory"`` or ``"compute"``: what bounds the whole workload (its summed times)."""
        return self.cost.bound

    @property
    def times(self) -> dict:
        """Seconds each resource was busy over the workload (``compute``, ``dram``, ...)."""
        return dict(self.cost.times)

    def _dram_traffic(self):
        """(total, weights, KV cache) DRAM bytes over the layers, or None when not reported."""
        cols = [c for c in _ACCESS_COLUMNS if c in self.layers.columns]
        if not cols:
            return None
        total = float(self.layers[cols].sum().sum())
        if total <= 0:
            return None
        lay = self.layers
        w = float(lay.loc[lay["b_operand"] == "weight", "b_dram_bytes"].sum())
        kv = float(lay.loc[lay["b_operand"] == "kv", "b_dram_bytes"].sum())
        return total, w, kv

    def explain(self) -> str:
        """One sentence on what bounds the workload and why, from its time components and
        DRAM traffic."""
        t = self.cost.times
        if not t:
            return f"{self.bound}-bound"
        comp = t.get("compute", 0.0)
        mem = {k: v for k, v in t.items() if k in ("dram", "sram", "network")}
        level = max(mem, key=mem.get) if mem else None
        if level is None:
            return f"compute-bound: compute {comp:.4g} s"
        out = (f"{self.bound}-bound: {level} busy {mem[level]:.4g} s, compute {comp:.4g} s"
               if self.bound == "memory" else
               f"compute-bound: compute {comp:.4g} s, {level} busy {mem[level]:.4g} s")
        traffic = self._dram_traffic()
        if level == "dram" and traffic is not None:
            total, w, kv = traffic
            out += (f"; {total / 1e9:.4g} GB from/to DRAM: weights {w / 1e9:.4g} GB "
                    f"({self.formats.get('weights')}), KV cache {kv / 1e9:.4g} GB")
        if t.get("overhead", 0.0) > 0:
            out += f"; fixed kernel overheads {t['overhead']:.4g} s"
        return out

    @property
    def memory_bytes(self) -> float:
        return self.footprint["total_bytes"]

    @property
    def fits(self) -> bool | None:
        """Whether the footprint fits the machine's memory (None: capacity unknown)."""
        if self.capacity_bytes is None:
            return None
        return bool(self.footprint["total_bytes"] <= self.capacity_bytes)

    # ------------------------------------------------------------ arithmetic
    def __add__(self, other):
        if not isinstance(other, Report):
            return NotImplemented
        import pandas as pd

        fp = {k: max(self.footprint.get(k, 0.0), other.footprint.get(k, 0.0))
              for k in set(self.footprint) | set(other.footprint)}
        fp["total_bytes"] = sum(fp[k] for k in _FOOTPRINT_PARTS if k in fp)
        same = lambda a, b: a if a == b else f"{a} + {b}"  # noqa: E731
        fmts = {k: same(self.formats.get(k, ""), other.formats.get(k, ""))
                for k in dict.fromkeys([*self.formats, *other.formats])}
        cap = self.capacity_bytes if self.capacity_bytes == other.capacity_bytes else None
        return Report(same(self.workload, other.workload), same(self.hardware, other.hardware),
                      fmts, self.cost + other.cost,
                      pd.concat([self.layers, other.layers], ignore_index=True), fp, cap)

    def __mul__(self, n):
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            return NotImplemented
        layers = self.layers.copy()
        scaled = [c for c in layers.columns
                  if c in ("count", "macs", "cycles", "stall_cycles", "seconds", "energy_pj")
                  or c.endswith(("_pj", "_s", "_bytes"))]
        for c in scaled:
            layers[c] = layers[c] * n
        return dataclasses.replace(self, cost=self.cost * n, layers=layers)

    __rmul__ = __mul__

    # ---------------------------------------------------------------- views
    def summary(self) -> Any:
        """Totals as a two-column DataFrame (quantity, value with unit)."""
        import pandas as pd

        e = self.energy_pj
        rows = [
            ("workload", self.workload), ("hardware", self.hardware),
            *[(k, v) for k, v in self.formats.items() if v],
            ("time", f"{self.seconds:.4g} s"), ("cycles", f"{self.cycles:.4g}"),
            ("energy", f"{self.energy_j:.4g} J"),
        ]
        for k, v in self.breakdown.items():
            if v > 0:
                rows.append((f"  {k}", f"{v * 1e-12:.4g} J ({100 * v / e:.1f}%)"))
        tt = self.cost.times
        if tt:
            comp = tt.get("compute", 0.0)
            mem = {k: v for k, v in tt.items() if k in ("dram", "sram", "network")}
            level = max(mem, key=mem.get) if mem else "memory"
            lv = mem.get(level, 0.0)
            rows.append(("bound", f"memory: {level} {lv:.4g} s > compute {comp:.4g} s"
                         if self.bound == "memory" else
                         f"compute: compute {comp:.4g} s >= {level} {lv:.4g} s"))
            for k, v in tt.items():
                if v > 0:
                    rows.append((f"  {k} time", f"{v:.4g} s"))
            traffic = self._dram_traffic()
            if traffic is not None:
                total, w, kv = traffic
                rows.append(("  dram traffic", f"{total / 1e9:.4g} GB (weights {w / 1e9:.4g} GB, "
                                               f"KV cache {kv / 1e9:.4g} GB)"))
        rows += [("utilization", f"{100 * self.utilization:.2f}%"),
                 ("weights", f"{self.footprint['weights_bytes'] / 1e9:.4g} GB"),
                 ("kv cache", f"{self.footprint['kv_cache_bytes'] / 1e9:.4g} GB"),
                 ("memory", f"{self.footprint['total_bytes'] / 1e9:.4g} GB")]
        if self.capacity_bytes is not None:
            rows.append(("capacity", f"{self.capacity_bytes / 1e9:.4g} GB "
                                     f"({'fits' if self.fits else 'does NOT fit'})"))
        return pd.DataFrame(rows, columns=["quantity", "value"])

    def by_kind(self) -> Any:
        """Per-layer table grouped by layer kind (q_proj, attn_qk, ...), summed."""
        num = [c for c in self.layers.columns
               if c in ("macs", "cycles", "seconds", "energy_pj") or c.endswith("_pj")]
        return self.layers.groupby("kind", sort=False)[num].sum()

    def plot(self, path: str | os.PathLike | None = None, *, ax: Any = None) -> Any:
        """Stacked bar chart of energy by category for each layer kind.

        Args:
            path: save the figure there (PNG, SVG, PDF by extension) when given.
            ax: draw into this matplotlib Axes instead of a new figure.

        Returns:
            The matplotlib Figure.
        """
        from lowbit import hwmodels

        g = self.by_kind()
        cats = [c for c in hwmodels.CATEGORIES if f"{c}_pj" in g.columns
                and g[f"{c}_pj"].sum() > 0]
        if ax is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(max(6.0, 0.7 * len(g) + 2), 4.5))
            ax = fig.add_subplot()
        else:
            fig = ax.figure
        bottom = [0.0] * len(g)
        x = list(range(len(g)))
        for c in cats:
            vals = (g[f"{c}_pj"] * 1e-12).tolist()
            ax.bar(x, vals, bottom=bottom, label=c)
            bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
        ax.set_xticks(x)
        ax.set_xticklabels(list(g.index), rotation=45, ha="right")
        ax.set_ylabel("energy (J)")
        f = self.formats
        ax.set_title(f"{self.workload} on {self.hardware}: W {f.get('weights')}, "
                     f"A {f.get('activations')}", fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig

    def __str__(self) -> str:
        return self.summary().to_string(index=False)


#: the parts of ``Report.footprint`` that ``total_bytes`` sums (``metadata_bytes`` with a recipe)
_FOOTPRINT_PARTS = ("weights_bytes", "kv_cache_bytes", "activations_bytes", "metadata_bytes")


def _gemm(machine, g, a, b, acc):
    """One call's cost of the lowered GEMM ``g`` (its ``batch`` GEMMs together)."""
    kw = {}
    if g.batch != 1:
        kw["batch"] = g.batch
    if g.a_elements is not None:
        kw["a_elements"] = g.a_elements
    return machine.gemm(g.m, g.k, g.n, a_format=a, b_format=b, accumulator=acc, **kw)


_ACCESS_COLUMNS = ("a_dram_bytes", "b_dram_bytes", "c_dram_bytes")


def estimate(workload: Any, hw: Any, *, weights: Any, activations: Any, accumulator: Any = None,
             kv_cache: Any = None, recipe: Any = None) -> Report:
    """Estimate time and energy of a workload on a machine with the given number formats.

    Args:
        workload: a registered workload name (``"llama2-7b-decode"``, see
            ``simulator.workloads.names()``), a workload record (``Gemm``, ``Conv2d``,
            ``Attention``, ``Transformer``) or a sequence of them.
        hw: a machine record (``hwmodels.SystolicArray`` ...), a preset name (``"tpu-v1"``,
            see ``hwmodels.presets.names()``) or a path to a preset YAML file.
        weights: format of the weights (``b`` of weight GEMMs): a record or a registered name.
        activations: format of the activations (``a`` of every GEMM, and the outputs).
        accumulator: accumulator format; None = the machine's native choice.
        kv_cache: format of the KV cache (``b`` of the attention GEMMs); None = activations.
        recipe: a :class:`simulator.Recipe` (rotations, outliers, low rank, static or dynamic
            scales): its costs are added as layers of kind ``rotation``, ``scales``,
            ``outliers``, ``low_rank`` (named ``<layer>.<kind>``), and the footprint gains
            ``metadata_bytes`` (with its parts ``scale_bytes``, ``outlier_bytes``,
            ``low_rank_bytes``, ``rotation_bytes``), counted in ``total_bytes``. See
            ``simulator/estimation/_recipe_costs.py`` for the model.

    Returns:
        :class:`Report`: total cycles, seconds, energy (pJ) by category (MAC, SRAM, DRAM,
        scale handling, table builds/lookups, network, static, overhead), utilization, the time
        each resource was busy and what bounds the workload (``bound``, ``explain()``), memory
        footprint
        at true bits per element, whether it ``fits`` the machine's memory (a GPU's HBM: a
        flag, False when it does not; None for machines with no stated capacity), and a
        per-layer DataFrame.

    Raises:
        ValueError: unknown workload, preset or format name; a non-scalar accumulator (block,
            scaled, codebook, lattice formats); a machine that cannot run the formats; weights +
            KV cache that do not fit a wafer's SRAM (a wafer has nowhere else to keep them).
        TypeError: arguments of the wrong type.
    """
    import pandas as pd

    wl = resolve_workload(workload)
    machine = resolve_hardware(hw)
    w = _format(weights, "weights")
    a = _format(activations, "activations")
    if w is None or a is None:
        raise ValueError("weights and activations formats must be given")
    kv = _format(kv_cache, "kv_cache") if kv_cache is not None else a
    acc = _format(accumulator, "accumulator")

    mem = wl.memory()
    footprint = {
        "weights_bytes": mem["weights"] * _bits(w) / 8,
        "kv_cache_bytes": mem["kv_cache"] * _bits(kv) / 8,
        "activations_bytes": mem["activations"] * _bits(a) / 8,
    }
    layer_list = wl.layers()
    recipe_rows = []
    if recipe is not None:
        from ._recipe_costs import Recipe, recipe_costs

        if not isinstance(recipe, Recipe):
            raise TypeError(f"recipe must be a simulator.Recipe or None, got {type(recipe).__name__}")
        recipe_rows, meta = recipe_costs(layer_list, machine, recipe, weights=w, activations=a, accumulator=acc)
        footprint.update(meta)
    footprint["total_bytes"] = sum(footprint[k] for k in _FOOTPRINT_PARTS if k in footprint)
    if hasattr(machine, "check_capacity"):
        machine.check_capacity(footprint["weights_bytes"] + footprint["kv_cache_bytes"])

    rows, total = [], None
    for g in layer_list:
        b = {"weight": w, "kv": kv, "activation": a}[g.b_operand]
        one = _gemm(machine, g, a, b, acc)
        cost = one * g.count
        total = cost if total is None else total + cost
        row = {"name": g.name, "kind": g.kind, "m": g.m, "k": g.k, "n": g.n, "count": g.count,
               "batch": g.batch, "b_operand": g.b_operand, "b_format": _fmt_name(b)}
        row.update(cost.to_dict())
        for c in _ACCESS_COLUMNS:
            row[c] = cost.accesses.get(c, 0.0)
        row["bound"] = one.bound
        row["mapping"] = "" if one.mapping is None else str(one.mapping)
        rows.append(row)
    for name, kind, cost in recipe_rows:
        total = total + cost
        rows.append({"name": name, "kind": kind, **cost.to_dict(),
                     **{c: cost.accesses.get(c, 0.0) for c in _ACCESS_COLUMNS}, "bound": cost.bound})
    layers = pd.DataFrame(rows)
    return Report(
        workload=getattr(wl, "name", type(wl).__name__),
        hardware=getattr(machine, "name", "") or type(machine).__name__,
        formats={"weights": _fmt_name(w), "activations": _fmt_name(a), "kv_cache": _fmt_name(kv),
                 "accumulator": _fmt_name(acc) if acc is not None else "native"},
        cost=total, layers=layers, footprint=footprint,
        capacity_bytes=memory_capacity_bytes(machine),
    )
