"""``python -m ccbridge.legacy import|dbmigrate …``."""

import sys

from ccbridge.legacy.cli import main

if __name__ == "__main__":
    sys.exit(main())
