"""``python -m lowbit``: the ``lowbit`` command line."""

from lowbit.simulator.cli import main

raise SystemExit(main())
