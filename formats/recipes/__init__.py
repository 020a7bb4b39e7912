"""Quantization recipes on numbers: transforms (Hadamard, fast Walsh–Hadamard with random signs,
general orthogonal rotations, SmoothQuant equalization) and calibration of static scales.

The public names are re-exported by :mod:`lowbit.formats` (``formats.hadamard``,
``formats.fwht``, ``formats.calibrate``, ...); the modules here are private.
"""
