"""Bit-exact emulation of quantized GEMMs and layers: matmul, accumulators, layers, compare,
LUT-GEMM and bit-serial functional models, requantization."""
