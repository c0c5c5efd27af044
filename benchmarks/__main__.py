"""``python -m benchmarks [--quick|--smoke] [--only NAME] [--json OUT] [--plot OUT.png]``."""

from .run import main

raise SystemExit(main())
