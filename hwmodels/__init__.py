"""lowbit hwmodels."""
