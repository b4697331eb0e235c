"""Run every benchmark script: ``python -m benchmarks [name ...] [--flags]`` (names like ``core``,
``conv``; flags such as ``--solo`` or ``--quick`` go to every chosen script)."""
import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv):
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    chosen, flags = [], []
    for k, a in enumerate(argv):  # a word that does not follow a flag is a benchmark name
        is_name = not a.startswith("-") and (k == 0 or not argv[k - 1].startswith("-"))
        (chosen if is_name else flags).append(a)
    chosen = chosen or names
    for name in chosen:
        if name not in names:
            raise SystemExit(f"unknown benchmark {name!r}; available: {', '.join(names)}")
        sys.argv = [f"benchmarks.bench_{name}"] + flags  # the scripts read their flags from sys.argv
        module = importlib.import_module(f"benchmarks.bench_{name}")
        module.main()


if __name__ == "__main__":
    main(sys.argv[1:])
