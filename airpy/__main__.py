"""`python -m airpy` is the `airpy` command."""

from airpy.cli import main

raise SystemExit(main())
