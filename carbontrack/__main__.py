"""`python -m carbontrack`: the same as the `carbontrack` console script."""

from carbontrack.cli import main

raise SystemExit(main())
