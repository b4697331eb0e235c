"""The simulated CuPy (``minigrad.testing.fake_cupy``) keeps CuPy's rules; without them the device
runs of the suite would prove nothing. Host-side tests: they import the module directly."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minigrad.testing.fake_cupy import cupy as cp
from minigrad.testing.fake_cupy import cupyx

pytestmark = pytest.mark.cpu_only


def dev(a):
    return cp.asarray(np.asarray(a, dtype=np.float64))


def test_no_implicit_copy_to_the_host():
    a = dev([1.0, 2.0])
    for convert in (np.asarray, np.array, lambda x: np.concatenate([np.ones(1), x])):
        with pytest.raises(TypeError):
            convert(a)
    host = a.get()
    assert isinstance(host, np.ndarray) and host.tolist() == [1.0, 2.0]
    assert isinstance(cp.asnumpy(a), np.ndarray) and float(a[1]) == 2.0 and a.tolist() == [1.0, 2.0]


def test_host_arrays_and_lists_do_not_mix_with_device_arrays():
    a = dev([1.0, 2.0])
    host = np.array([1.0, 2.0])
    for mix in (lambda: a + host, lambda: host + a, lambda: a * [1, 2], lambda: cp.where(host > 1, a, 0),
                lambda: cp.concatenate([a, host]), lambda: cp.maximum(a, host), lambda: a.__iadd__(host)):
        with pytest.raises(TypeError, match="Unsupported type"):
            mix()
    # scalars, NumPy scalars and 0-d arrays are fine, as in CuPy
    assert (a * np.float32(2) + np.array(1.0) + 3).tolist() == [6.0, 8.0]


def test_results_are_device_arrays_and_reductions_are_0d():
    a = dev([[1.0, 2.0], [3.0, 4.0]])
    for r in (a.sum(), cp.max(a), a[0, 1], np.exp(a), cp.einsum("ij->i", a)):
        assert isinstance(r, cp.ndarray)
    assert a.sum().shape == () and a[0, 1].shape == ()


def test_host_data_enters_by_copy_and_by_index():
    host = np.zeros(3)
    a = cp.asarray(host)
    a[np.array([0, 2])] = np.array([5.0, 6.0])  # host index and value: copied in, as CuPy does
    assert host.tolist() == [0.0, 0.0, 0.0] and a.tolist() == [5.0, 0.0, 6.0]
    assert a[[0, 2]].tolist() == [5.0, 6.0]
    with pytest.raises(ValueError, match="one boolean array"):
        dev(np.ones((2, 2)))[np.array([True, False]), np.array([0])]


def test_scatter_add_and_what_cupy_lacks():
    a = cp.zeros(3)
    cupyx.scatter_add(a, cp.asarray(np.array([0, 0, 2])), 1.0)
    np.add.at(a, np.array([1]), 5.0)  # dispatches to cupy.add.at (CuPy >= 12.1)
    assert a.tolist() == [2.0, 5.0, 1.0]
    with pytest.raises(AttributeError):
        cp.add.reduceat
    with pytest.raises(TypeError):
        np.add.reduceat(a, [0, 1])
    with pytest.raises(AttributeError):
        cp.errstate
    with pytest.raises(TypeError, match="where"):
        cp.add(a, 1.0, where=a > 0)
    with pytest.raises(TypeError, match="initial"):
        a.max(initial=0.0)
    with pytest.raises(ValueError, match="repeats"):
        cp.repeat(a, cp.asarray(np.array([1, 1, 1])))
    with pytest.raises(ValueError, match="Unsupported dtype"):
        cp.asarray(np.array(["x"]))


def test_strided_view_random_and_devices():
    a = cp.arange(6.0)
    v = cp.lib.stride_tricks.as_strided(a, shape=(2, 3), strides=(3 * 8, 8))
    v[1, 0] = -1.0
    assert a.tolist() == [0.0, 1.0, 2.0, -1.0, 4.0, 5.0]
    cp.random.seed(3)
    r = cp.random.random((4,), dtype=np.float32)
    cp.random.seed(3)
    assert isinstance(r, cp.ndarray) and r.tolist() == cp.random.random((4,), dtype=np.float32).tolist()
    assert r.get().tolist() != np.random.default_rng(3).random(4, dtype=np.float32).tolist()  # its own stream
    assert cp.cuda.runtime.getDeviceCount() == 1 and a.device.id == 0
    with cp.cuda.Device(0):
        pass
    with pytest.raises(RuntimeError):
        cp.cuda.Device(1)


def test_simulation_only_when_asked():
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is installed: is_available() then depends on the machine's GPU")
    except ImportError:
        pass
    env = {k: v for k, v in os.environ.items() if k != "MINIGRAD_SIMULATED_CUDA"}
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    code = "import minigrad; print(minigrad.cuda.is_available(), minigrad.backend.SIMULATED)"
    out = {}
    for flag in (None, "1"):
        e = dict(env, **({"MINIGRAD_SIMULATED_CUDA": flag} if flag else {}))
        out[flag] = subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                                   check=True).stdout.split()
    assert out[None] == ["False", "False"] and out["1"] == ["True", "True"]
