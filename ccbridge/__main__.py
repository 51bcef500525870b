"""Run the command line: ``python -m ccbridge``."""

from ccbridge.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
