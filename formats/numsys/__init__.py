"""Other number systems: posits, LNS / power-of-two / LUQ, L-Mul and lattice quantizers."""
