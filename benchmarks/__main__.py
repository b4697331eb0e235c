"""Run every benchmark script: ``python -m benchmarks [name ...] [--option ...]`` (names like ``core``,
``conv``; options are read by the scripts from ``sys.argv``)."""
import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv):
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    words = [a for a in argv if not a.startswith("-") and not a.replace(".", "", 1).isdigit()]  # not options
    for name in words:
        if name not in names:
            raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(names)}")
    for name in words or names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
