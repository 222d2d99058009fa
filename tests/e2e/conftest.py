"""The end-to-end tests drive the real assistant CLIs against the scripted model server."""

from tests.support.fixtures import cli_bin, model_server  # noqa: F401
