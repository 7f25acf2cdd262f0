"""``python -m extruct_async``: the ``extruct-async`` command line."""

from ._cli import main

raise SystemExit(main())
