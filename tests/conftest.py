"""Shared test configuration.

1. The packages under test, imported once: under ``LOWBIT_REQUIRE_INSTALLED=1`` (CI) they must
   come from the installed distribution, never from the checkout beside the tests.
2. One Hypothesis profile for the whole suite (select with ``HYPOTHESIS_PROFILE=<name>``):
   ``default`` — modest example counts, no deadline (the 2-core CI machine is shared, so
   per-example timing means nothing), no health check on slow data generation;
   ``thorough`` — 10× the examples, for a local hunt for bugs.
"""

from __future__ import annotations

import os
import pathlib

from hypothesis import HealthCheck, settings

from lowbit import formats, hwmodels, simulator

_TESTS = pathlib.Path(__file__).resolve().parent

for _pkg in (formats, hwmodels, simulator):
    assert getattr(_pkg, "__file__", None), f"{_pkg.__name__} resolved to a namespace package"
    # CI (.ci/run) tests the installed package, never the checkout beside the tests
    if os.environ.get("LOWBIT_REQUIRE_INSTALLED"):
        _where = pathlib.Path(_pkg.__file__).resolve()
        assert _TESTS.parent not in _where.parents, f"{_pkg.__name__} imported from the checkout: {_where}"


settings.register_profile(
    "default",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
