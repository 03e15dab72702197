"""``python -m heapmetric.cli`` (and ``accelerate launch -m heapmetric.cli train ...``) run the CLI."""

import sys

from heapmetric.cli import main

sys.exit(main())
