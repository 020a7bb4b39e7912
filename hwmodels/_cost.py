"""The additive ``Cost`` record every machine's ``.gemm`` returns.

A cost is data: cycles and seconds spent, energy split into named parts (pJ), the MACs done and
the MACs the machine could have done in that time (so utilization survives addition), counts
of memory accesses, and the time each resource was busy (compute, DRAM, network...), from which
the cost says what bounds it. Costs add (``+``, ``sum``) and scale (``* n``); ``energy_pj`` is
the sum of the breakdown by construction, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from typing import Any

from ._validate import check_number

__all__ = ["Cost", "CATEGORIES", "TIME_PARTS", "MEMORY_PARTS", "FrozenMap"]

#: Energy categories, in the order reports print them.
#:
#: ``mac``      multiplies and accumulates (the arithmetic of the element formats)
#: ``sram``     on-chip buffer reads and writes
#: ``dram``     off-chip memory traffic (DRAM, HBM)
#: ``scale``    block-scale handling of scaled formats (combining scales, rescaling partial sums)
#: ``table``    lookup tables: LUT-GEMM table builds and lookups, LNS/codebook tables
#: ``network``  on-chip network hops (wafer-scale mesh)
#: ``static``   static (leakage) power × time
#: ``overhead`` power not attributed to the parts above (control, clocking), for machines whose
#:              energy is bounded below by board power × time (GPU, wafer)
CATEGORIES = ("mac", "sram", "dram", "scale", "table", "network", "static", "overhead")

#: Time components (seconds each resource is busy), in the order reports print them:
#:
#: ``compute``  the arithmetic units (array folds, loading stationary operands into the array,
#:              GPU tensor cores and dequantization on CUDA cores, table lookups)
#: ``dram``     the off-chip memory interface (DRAM, HBM), at its bandwidth
#: ``sram``     on-chip buffers, where a machine models their bandwidth
#: ``network``  the on-chip network (wafer-scale mesh: shifts, broadcasts, reductions)
#: ``overhead`` fixed latencies that no resource's throughput explains (GPU kernel launches)
TIME_PARTS = ("compute", "dram", "sram", "network", "overhead")

#: The time components that are memory (a cost is ``memory``-bound when one of them exceeds
#: ``compute``).
MEMORY_PARTS = ("dram", "sram", "network")


class FrozenMap(Mapping):
    """A read-only, hashable ``str -> float`` mapping (used for breakdowns and access counts)."""

    __slots__ = ("_d", "_h")

    def __init__(self, data=()):
        d = {}
        for k, v in dict(data).items():
            if not isinstance(k, str):
                raise TypeError(f"keys must be str, got {type(k).__name__}")
            if isinstance(v, (bool, str, bytes)) or v is None:
                raise TypeError(f"value of {k!r} must be a number, got {type(v).__name__}")
            try:
                d[k] = float(v)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"value of {k!r} must be a number, got {type(v).__name__}") from exc
        self._d = d
        self._h = None

    @classmethod
    def _trusted(cls, d: dict) -> FrozenMap:
        """Wrap a dict of str -> float already known to be valid (no copy, no checks)."""
        self = object.__new__(cls)
        self._d = d
        self._h = None
        return self

    def __getitem__(self, key):
        return self._d[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self):
        if self._h is None:
            self._h = hash(tuple(sorted(self._d.items())))
        return self._h

    def __eq__(self, other):
        if isinstance(other, Mapping):
            return dict(self._d) == dict(other)
        return NotImplemented

    def __repr__(self):
        return f"FrozenMap({self._d!r})"

    def __reduce__(self):
        return (FrozenMap, (self._d,))


def _merge(x: Mapping, y: Mapping) -> dict:
    out = dict(x)
    for k, v in y.items():
        out[k] = out.get(k, 0.0) + v
    return out


@dataclasses.dataclass(frozen=True)
class Cost:
    """Time and energy of some work on one machine.

    Args:
        cycles: machine clock cycles, stalls included.
        seconds: wall time, s.
        breakdown: energy by category (see :data:`CATEGORIES`), pJ; ``energy_pj`` is its sum.
        macs: useful multiply-accumulates performed.
        capacity_macs: MACs the machine could have performed at peak in ``seconds`` (peak MAC
            rate × seconds); ``utilization = macs / capacity_macs``.
        stall_cycles: cycles the compute waited on memory (included in ``cycles``).
        accesses: counts by name (element reads/writes of each buffer, bytes moved, hops...), each
            name carrying its unit (``*_reads``, ``*_writes`` in elements, ``*_bytes``); per
            operand and level ``a_dram_bytes``, ``b_dram_bytes``, ``c_dram_bytes`` and
            ``a_sram_reads``, ``b_sram_reads``, ``c_sram_reads``, ``c_sram_writes``.
        times: seconds each resource was busy (see :data:`TIME_PARTS`): ``compute``, ``dram``,
            ``sram``, ``network``, ``overhead``. Resources overlap, so ``seconds`` is not their
            sum: it is at least the largest of them.
        mapping: how the work was laid out (a :class:`~hwmodels.Mapping`, or a machine-specific
            record), or None. Not additive: a sum of costs has none; ``cost * n`` keeps it.

    Costs add (``a + b``, ``sum(costs)``) and scale by a non-negative number (``cost * n``).
    ``bound`` is ``"memory"`` when a memory time exceeds the compute time, else ``"compute"``.
    """

    cycles: float = 0.0
    seconds: float = 0.0
    breakdown: Mapping = dataclasses.field(default_factory=FrozenMap)
    macs: float = 0.0
    capacity_macs: float = 0.0
    stall_cycles: float = 0.0
    accesses: Mapping = dataclasses.field(default_factory=FrozenMap)
    times: Mapping = dataclasses.field(default_factory=FrozenMap)
    mapping: object = dataclasses.field(default=None, compare=False)

    def __post_init__(self):
        for name in ("cycles", "seconds", "macs", "capacity_macs", "stall_cycles"):
            v = check_number(name, getattr(self, name), strict=False)
            object.__setattr__(self, name, float(v))
        for field in ("breakdown", "accesses", "times"):
            m = getattr(self, field)
            m = m if isinstance(m, FrozenMap) else FrozenMap(m)
            for k, v in m.items():
                if not 0.0 <= v < math.inf:
                    raise ValueError(f"{field}[{k!r}] must be finite and >= 0, got {v}")
            object.__setattr__(self, field, m)

    @classmethod
    def _trusted(cls, cycles, seconds, breakdown, macs, capacity_macs, stall_cycles, accesses,
                 times=None, mapping=None):
        """Build a Cost from values the caller computed and knows valid (floats >= 0, dicts of
        str -> float): the models' hot path, skipping ``__post_init__``'s checks."""
        self = object.__new__(cls)
        set_ = object.__setattr__
        set_(self, "cycles", cycles)
        set_(self, "seconds", seconds)
        set_(self, "breakdown", FrozenMap._trusted(breakdown))
        set_(self, "macs", macs)
        set_(self, "capacity_macs", capacity_macs)
        set_(self, "stall_cycles", stall_cycles)
        set_(self, "accesses", FrozenMap._trusted(accesses))
        set_(self, "times", FrozenMap._trusted(times if times is not None else {}))
        set_(self, "mapping", mapping)
        return self

    # ------------------------------------------------------------- derived
    @property
    def energy_pj(self) -> float:
        """Total energy, pJ (the sum of ``breakdown``)."""
        return float(math.fsum(self.breakdown.values()))

    @property
    def energy_j(self) -> float:
        """Total energy, J."""
        return self.energy_pj * 1e-12

    @property
    def utilization(self) -> float:
        """Useful MACs / peak MACs over the elapsed time, in [0, 1] (0 for an empty cost)."""
        return self.macs / self.capacity_macs if self.capacity_macs > 0 else 0.0

    @property
    def power_w(self) -> float:
        """Average power, W (0 for zero time)."""
        return self.energy_j / self.seconds if self.seconds > 0 else 0.0

    @property
    def compute_cycles(self) -> float:
        """Cycles without stalls."""
        return self.cycles - self.stall_cycles

    @property
    def compute_seconds(self) -> float:
        """Seconds the compute units were busy (``times["compute"]``, 0 if not given)."""
        return self.times.get("compute", 0.0)

    @property
    def memory_seconds(self) -> float:
        """Seconds of the busiest memory level (the largest of ``times``' memory parts)."""
        return max((self.times.get(k, 0.0) for k in MEMORY_PARTS), default=0.0)

    @property
    def bound(self) -> str:
        """``"memory"`` when a memory level was busier than the compute units, else
        ``"compute"`` (from :attr:`times`; a cost without time components falls back on its
        stall cycles)."""
        if not self.times:
            return "memory" if self.stall_cycles > 0 else "compute"
        return "memory" if self.memory_seconds > self.compute_seconds else "compute"

    @property
    def bound_by(self) -> str:
        """The time component that bounds the cost: ``"compute"`` or the busiest memory level
        (``"dram"``, ``"sram"``, ``"network"``)."""
        if self.bound == "compute":
            return "compute"
        return max(MEMORY_PARTS, key=lambda k: self.times.get(k, 0.0))

    # ---------------------------------------------------------- arithmetic
    def __add__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            return self  # so that sum(costs) works
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(
            cycles=self.cycles + other.cycles,
            seconds=self.seconds + other.seconds,
            breakdown=_merge(self.breakdown, other.breakdown),
            macs=self.macs + other.macs,
            capacity_macs=self.capacity_macs + other.capacity_macs,
            stall_cycles=self.stall_cycles + other.stall_cycles,
            accesses=_merge(self.accesses, other.accesses),
            times=_merge(self.times, other.times),
        )

    __radd__ = __add__

    def __mul__(self, n):
        if isinstance(n, bool) or not isinstance(n, (int, float)):
            return NotImplemented
        if not (n >= 0) or math.isinf(n):
            raise ValueError(f"a Cost scales by a finite number >= 0, got {n}")
        return Cost(
            cycles=self.cycles * n,
            seconds=self.seconds * n,
            breakdown={k: v * n for k, v in self.breakdown.items()},
            macs=self.macs * n,
            capacity_macs=self.capacity_macs * n,
            stall_cycles=self.stall_cycles * n,
            accesses={k: v * n for k, v in self.accesses.items()},
            times={k: v * n for k, v in self.times.items()},
            mapping=self.mapping,
        )

    __rmul__ = __mul__

    def to_dict(self) -> dict:
        """Flat dict: cycles, stall_cycles, seconds, energy_pj, ``<category>_pj`` for every
        category, macs, utilization, ``<part>_s`` for every time part, and ``bound``."""
        out: dict[str, Any] = {
            "cycles": self.cycles,
            "stall_cycles": self.stall_cycles,
            "seconds": self.seconds,
            "energy_pj": self.energy_pj,
        }
        for c in CATEGORIES:
            out[f"{c}_pj"] = self.breakdown.get(c, 0.0)
        for k, v in self.breakdown.items():
            if k not in CATEGORIES:
                out[f"{k}_pj"] = v
        out["macs"] = self.macs
        out["utilization"] = self.utilization
        for t in TIME_PARTS:
            out[f"{t}_s"] = self.times.get(t, 0.0)
        for k, v in self.times.items():
            if k not in TIME_PARTS:
                out[f"{k}_s"] = v
        out["bound"] = self.bound
        return out
