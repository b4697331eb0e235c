"""Test helpers that ship with minigrad (like ``numpy.testing``); never used by the library itself
except when a test run asks for them (see ``fake_cupy``)."""
