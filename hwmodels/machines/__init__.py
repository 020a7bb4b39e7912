"""Machine records and their cost functions: systolic array, bit-serial array, LUT-GEMM unit,
wafer-scale mesh, GPU."""
