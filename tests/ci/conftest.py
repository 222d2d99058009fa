"""The documented workflows run real engines against the scripted model server."""

from tests.support.fixtures import model_server  # noqa: F401
