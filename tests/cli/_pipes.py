"""`parallelai … | head -1`, made certain: the command writes into a pipe whose reader has left."""

from __future__ import annotations

import os
import subprocess
import sys


def into_a_closed_pipe(*argv: str) -> subprocess.CompletedProcess[bytes]:
    """Run `parallelai ARGV` with stdout a pipe nobody reads (its first write fails with EPIPE)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [sys.executable, "-m", "parallelai", *argv],
            stdout=writer,
            stderr=subprocess.PIPE,
            timeout=60,
            check=False,
        )
    finally:
        os.close(writer)
