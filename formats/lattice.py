"""Lattice quantizers (public module): ``formats.lattice``.

* :func:`nearest` — the Conway & Sloane nearest-point algorithms for Z^n, D_n, A_n and E8 on
  arrays shaped (..., n), NumPy or JAX, with a lattice step ``scale``.
* :func:`voronoi_encode` / :func:`voronoi_decode` — nested-lattice (Voronoi) codes mod q.
* :class:`NestedLatticeFormat` — a tensor format (NestQuant-style, arXiv 2502.09720) usable
  with ``formats.quantize`` / ``encode`` / ``decode``; registered as ``nestquant_e8_q16``,
  ``nestquant_e8_q14``, ``nested_d4_q16``, ``nested_z8_q16``.
* :func:`normalized_second_moment` — Monte Carlo G, against :data:`KNOWN_NSM` (SPLAG Table 2.3).

Lattices are named ``"Z8"``, ``"D4"``, ``"D8"``, ``"E8"``, ``"A2"``, … (:func:`get`).

Example:
    >>> import numpy as np, formats
    >>> formats.lattice.nearest(np.array([0.6, 0.6, 0.1, 0.0]), "D4")
    array([1., 1., 0., 0.])
"""

from .numsys._lattice import DEFAULT_BETAS as DEFAULT_BETAS
from .numsys._lattice import KNOWN_NSM as KNOWN_NSM
from .numsys._lattice import LATTICE_KINDS as LATTICE_KINDS
from .numsys._lattice import Lattice as Lattice
from .numsys._lattice import NestedLatticeFormat as NestedLatticeFormat
from .numsys._lattice import get_lattice as get
from .numsys._lattice import nearest as nearest
from .numsys._lattice import normalized_second_moment as normalized_second_moment
from .numsys._lattice import voronoi_decode as voronoi_decode
from .numsys._lattice import voronoi_encode as voronoi_encode

__all__ = ["KNOWN_NSM", "LATTICE_KINDS", "DEFAULT_BETAS", "Lattice", "NestedLatticeFormat", "get",
           "nearest", "normalized_second_moment", "voronoi_decode", "voronoi_encode"]
