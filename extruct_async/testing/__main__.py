"""``python -m extruct_async.testing``: run the simulator until Ctrl-C."""

from ._standalone import main

raise SystemExit(main())
