"""Entry point of `dockyardd` (placeholder until its issue lands)."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("dockyardd: not yet implemented", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
