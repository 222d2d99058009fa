"""Process identities: alive only while the very same process runs, and signals that never reach a newcomer."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest

from parallelai.processes import ProcessIdentity, identity_and_environ, send_signal


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(["sleep", "30"], env={**os.environ, "SLEEPER_MARK": "yes"})
    yield process
    process.kill()
    process.wait()


def test_this_process_is_alive() -> None:
    me = ProcessIdentity.current()

    assert me.pid == os.getpid()
    assert me.alive()
    assert ProcessIdentity.of(os.getpid()) == me


def test_a_reaped_child_is_not_alive(sleeper: subprocess.Popen[bytes]) -> None:
    identity = ProcessIdentity.of(sleeper.pid)
    assert identity is not None
    assert identity.alive()

    sleeper.kill()
    sleeper.wait()

    assert not identity.alive()
    assert ProcessIdentity.of(sleeper.pid) != identity  # nothing has its pid now, or a newcomer does


def test_a_zombie_is_not_alive(sleeper: subprocess.Popen[bytes]) -> None:
    identity = ProcessIdentity.of(sleeper.pid)
    assert identity is not None

    sleeper.kill()
    os.waitid(os.P_PID, sleeper.pid, os.WEXITED | os.WNOWAIT)  # exited, and not reaped yet

    assert ProcessIdentity.of(sleeper.pid) == identity  # the pid is still its
    assert not identity.alive()


def test_the_same_pid_with_another_start_is_another_process() -> None:
    me = ProcessIdentity.current()

    assert not dataclasses.replace(me, start_ticks=me.start_ticks + 1).alive()
    assert not dataclasses.replace(me, boot_id="another-boot").alive()


def test_a_forked_child_is_told_its_own_identity_not_its_parents() -> None:
    parent = ProcessIdentity.current()  # cached here: the child must not get this one back
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, whatever happens
        try:
            child = ProcessIdentity.current()
            os.write(write_end, f"{child.pid} {child.start_ticks} {child.alive()}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        report = os.read(read_end, 200).decode().split()
        seen_from_here = ProcessIdentity.of(pid)
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)

    assert seen_from_here is not None
    assert report == [str(pid), str(seen_from_here.start_ticks), "True"]
    assert seen_from_here != parent


def test_identity_and_environment_are_read_from_one_process(sleeper: subprocess.Popen[bytes]) -> None:
    read = identity_and_environ(sleeper.pid)

    assert read is not None
    identity, environ = read
    assert identity == ProcessIdentity.of(sleeper.pid)
    assert b"\0SLEEPER_MARK=yes\0" in b"\0" + environ


def test_a_signal_meant_for_a_process_whose_pid_was_reused_is_not_sent(
    sleeper: subprocess.Popen[bytes],
) -> None:
    identity = ProcessIdentity.of(sleeper.pid)
    assert identity is not None
    # What an identity taken before the pid changed hands looks like: same pid, another start.
    predecessor = dataclasses.replace(identity, start_ticks=identity.start_ticks - 1)

    assert not send_signal(predecessor, signal.SIGKILL)
    assert sleeper.poll() is None
    assert identity.alive()

    assert send_signal(identity, signal.SIGKILL)
    assert sleeper.wait(timeout=10) == -signal.SIGKILL


def test_a_process_that_is_gone_is_not_signalled(sleeper: subprocess.Popen[bytes]) -> None:
    identity = ProcessIdentity.of(sleeper.pid)
    assert identity is not None
    sleeper.kill()
    sleeper.wait()

    assert not send_signal(identity, signal.SIGTERM)
