"""``python -m sarfeat.training``: train Fast-R2D2 for SAR (see ``--help``)."""

from .cli import main

raise SystemExit(main())
