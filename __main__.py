"""``python -m lowbit``: the ``lowbit`` command line."""

from .simulator.cli import main

raise SystemExit(main())
