"""Fixtures for testing the test support itself."""

from tests.support.fixtures import model_server  # noqa: F401
