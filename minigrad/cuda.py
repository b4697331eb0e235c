"""``minigrad.cuda``: whether the CuPy backend can be used."""
from . import backend


def is_available():
    """True when CuPy is installed and at least one CUDA device is present."""
    return backend.cuda_available()


def device_count():
    return backend.cuda_device_count()
