"""examples/autograd_internals.py --quick: every study prints its finding and succeeds."""
import os
import subprocess
import sys
import pytest

pytestmark = pytest.mark.cpu_only  # subprocesses / host-side files: the device run adds nothing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_autograd_internals_quick(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    run = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "autograd_internals.py"), "--quick",
                          "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    findings = [line for line in run.stdout.splitlines() if line.startswith("finding:")]
    assert len(findings) == 3
    assert "raised" in findings[0] and "NOT raised" not in findings[0]
    assert "fired once per backward (20 of 20 steps)" in findings[1]
    assert "rebase" in findings[2]
    assert any(name.startswith("after_inplace") for name in os.listdir(tmp_path))
