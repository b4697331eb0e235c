"""Every test runs once per device: ``cpu`` always, ``cuda`` where a device is present — a real one
(CuPy and a GPU), or the simulated one of ``make test-device`` (``MINIGRAD_SIMULATED_CUDA=1``, see
``minigrad/testing/fake_cupy.py``).

The autouse fixture makes the test's device the default device, so tensors and layers a test makes
without ``device=`` live there; a test that needs the device by name asks for the ``device`` fixture.
A test about the host side only (NumPy reference code, file formats, subprocesses) is marked
``@pytest.mark.cpu_only`` (or ``pytestmark = pytest.mark.cpu_only`` for a whole file).
"""
import pytest

import minigrad
from minigrad import backend

DEVICES = ["cpu"] + (["cuda"] if minigrad.cuda.is_available() else [])


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu_only: the test is about the host side only and runs on cpu alone")


def pytest_report_header(config):
    kind = "simulated (minigrad.testing.fake_cupy)" if backend.SIMULATED else "CuPy"
    return f"minigrad devices: {', '.join(DEVICES)}" + (f" [cuda: {kind}]" if "cuda" in DEVICES else "")


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        cpu_only = metafunc.definition.get_closest_marker("cpu_only") is not None
        metafunc.parametrize("device", ["cpu"] if cpu_only else DEVICES)


@pytest.fixture(autouse=True)
def _on_device(device):
    backend.set_default_device(device)
    yield
    backend.set_default_device("cpu")
