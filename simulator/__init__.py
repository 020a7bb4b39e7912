"""lowbit simulator."""
