"""The ``lowbit`` command line (``lowbit ...`` or ``python -m lowbit ...``): :func:`main`."""

from ._main import main as main

__all__ = ["main"]
