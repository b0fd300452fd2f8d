"""``python -m training fetch|train|evaluate``: the training command line."""

from training.cli import main

raise SystemExit(main())
