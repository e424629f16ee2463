"""``python -m tui``: the same as ``eager tui``."""

import sys

from eager_local.cli import main

sys.exit(main(["tui", *sys.argv[1:]]))
