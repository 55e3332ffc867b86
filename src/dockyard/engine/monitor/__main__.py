"""Entry point of the monitor process: ``python -m dockyard.engine.monitor STATE_DIR READY_FD``."""

import sys

from dockyard.engine.monitor.server import main

sys.exit(main(sys.argv[1:]))
