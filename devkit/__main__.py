"""``python -m devkit``: the same as the ``devkit`` command (what containers run)."""

from devkit.cli import main

raise SystemExit(main())
