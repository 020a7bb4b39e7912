"""Scalar formats (``FloatFormat``, ``IntFormat``): the vectorized codec, its Numba and JAX
backends and the exact reference."""
