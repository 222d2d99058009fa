"""The reliability tier shares the scripted model server with the engine tests."""

from tests.support.fixtures import model_server  # noqa: F401
