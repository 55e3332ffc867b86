"""`make bench`: every benchmark in bench/, each side by side with its peer, as ratios.

Each bench module has a ``main(argv) -> dict`` that prints its own table and returns its
figures; this runner calls them in turn and prints one summary at the end. A bench whose peer
cannot run here says why and is skipped, never reported as a figure.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["runc_bench", "apply_bench", "engine_bench", "hub_bench", "pull_bench"]


def _load(name: str) -> object | None:
    path = HERE / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    wanted = argv or BENCHES
    results: dict[str, object] = {}
    failed = False
    for name in wanted:
        module = _load(name)
        if module is None:
            print(f"== {name}: not present, skipped")
            continue
        print(f"== {name}")
        try:
            results[name] = module.main([])  # type: ignore[attr-defined]
        except Exception:
            traceback.print_exc()
            results[name] = {"error": "failed, see above"}
            failed = True
    print("== summary")
    print(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
