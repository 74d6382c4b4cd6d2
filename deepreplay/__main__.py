"""``python -m deepreplay``: the command line."""

from .cli import main

raise SystemExit(main())
