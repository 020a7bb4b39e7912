"""Shared test configuration.

1. The packages under test: pytest's default (prepend) import mode puts ``tests/`` on
   ``sys.path`` to import this file, and ``tests/formats``, ``tests/hwmodels`` and
   ``tests/simulator`` would then shadow the packages ``formats``, ``hwmodels`` and ``simulator``
   (as empty namespace packages) for a plain ``pytest`` run. So ``tests/`` is taken off
   ``sys.path`` again and the real packages are imported here, once, before any test module.
2. One Hypothesis profile for the whole suite (select with ``HYPOTHESIS_PROFILE=<name>``):
   ``default`` — modest example counts, no deadline (the 2-core CI machine is shared, so
   per-example timing means nothing), no health check on slow data generation;
   ``thorough`` — 10× the examples, for a local hunt for bugs.
"""

from __future__ import annotations

import os
import pathlib
import sys

_TESTS = pathlib.Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _TESTS]

from lowbit import formats  # noqa: E402,F401  (the real packages, cached in sys.modules from here on)
from lowbit import hwmodels  # noqa: E402,F401
from lowbit import simulator  # noqa: E402,F401

for _pkg in (formats, hwmodels, simulator):
    assert getattr(_pkg, "__file__", None), f"{_pkg.__name__} resolved to a namespace package"
    # CI (.ci/run) tests the installed package, never the checkout beside the tests
    if os.environ.get("LOWBIT_REQUIRE_INSTALLED"):
        _where = pathlib.Path(_pkg.__file__).resolve()
        assert _TESTS.parent not in _where.parents, f"{_pkg.__name__} imported from the checkout: {_where}"

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "default",
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
settings.register_profile("thorough", parent=settings.get_profile("default"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
