"""Smoke test of examples/higher_order.py in its --quick mode (a few seconds)."""
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.cpu_only  # subprocesses / host-side files: the device run adds nothing

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "higher_order.py"


def test_higher_order_quick(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("example_higher_order", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    r = module.main(["--quick", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert out.count("finding:") == 5
    assert r["newton_1d"] == 6 and r["gd_1d"] > 100  # Newton: quadratic convergence from x = 2
    assert r["newton_2d"] < 20 < r["gd_2d"]
    counts = r["tanh_op_counts"]
    assert len(counts) == 4 and all(a < b for a, b in zip(counts, counts[1:]))
    assert all(Path(p).stat().st_size > 0 for p in r["graphs"])
    assert r["hvp_error"] < 1e-10
    assert r["grad_norm_penalty"] < r["grad_norm_plain"]
    assert Path(r["figure"]).stat().st_size > 0
