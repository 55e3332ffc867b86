"""Entry point of `dockyard-runc` (placeholder until its issue lands)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("dockyard-runc: not yet implemented", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
