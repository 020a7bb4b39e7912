"""Block and scaled formats: OCP MX, NVFP4, block floating point, scaled integers and codebooks."""
