"""Engine tests share the scripted model server and the real CLIs installed by scripts/install-clis.sh."""

from tests.support.fixtures import cli_bin, model_server  # noqa: F401
