"""lowbit ``hwmodels``: cost models of the machines that compute with low-precision formats.

Machines are frozen records with units in their field names — :class:`SystolicArray`,
:class:`BitSerialArray`, :class:`LutGemmUnit`, :class:`WaferMesh`, :class:`GPU` — each with
``.gemm(m, k, n, *, a_format=None, b_format=None, accumulator=None)`` returning an additive
:class:`Cost` (cycles, seconds, energy breakdown in pJ, utilization, DRAM and SRAM accesses per
operand, the time each resource was busy and what bounds it, and the chosen :class:`Mapping`).
``a`` is the left m×k operand (activations), ``b`` the right k×n operand (weights). Named
machines come from validated data files: ``hwmodels.presets.get("tpu-v1")``.

``hwmodels`` reads format records (bit widths, families) from ``formats``, never values. What a
cost model reads of a record is its summary :func:`operand`; packages above
(``lowbit.simulator``) resolve format arguments the way the cost models do with
:func:`resolve_format` and :func:`resolve_accumulator`.
"""

from . import presets as presets
from ._cost import CATEGORIES as CATEGORIES
from ._cost import TIME_PARTS as TIME_PARTS
from ._cost import Cost as Cost
from ._operand import ACCUMULATOR_FAMILIES as ACCUMULATOR_FAMILIES
from ._operand import operand as operand
from ._operand import resolve_accumulator as resolve_accumulator
from ._operand import resolve_format as resolve_format
from .energy._energy import EnergyTable as EnergyTable
from .energy._energy import MacEnergy as MacEnergy
from .energy._energy import energy_table as energy_table
from .energy._energy import mac_energy as mac_energy
from .energy._energy import node_factor as node_factor
from .machines._bitserial import BitSerialArray as BitSerialArray
from .machines._gpu import GPU as GPU
from .machines._lutgemm import LutGemmUnit as LutGemmUnit
from .machines._mapping import Mapping as Mapping
from .machines._systolic import SystolicArray as SystolicArray
from .machines._wafer import WaferMesh as WaferMesh

__all__ = [
    "Cost", "CATEGORIES", "TIME_PARTS", "Mapping", "EnergyTable", "MacEnergy", "mac_energy", "energy_table",
    "node_factor", "SystolicArray", "BitSerialArray", "LutGemmUnit", "WaferMesh", "GPU",
    "presets", "operand", "resolve_format", "resolve_accumulator", "ACCUMULATOR_FAMILIES",
]
