"""Workloads lowered onto machines: estimate and sweep."""
