"""Run every benchmark script: ``python -m benchmarks [name ...]`` (names like ``core``, ``conv``)."""
import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv):
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen = argv or names
    for name in chosen:
        if name not in names:
            raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(names)}")
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
