"""Processes that die with their parent: `prctl(PR_SET_PDEATHSIG)` on Linux.

`callcenter run` starts its children with `die_with_parent(SIGTERM)` as their preexec
function, so a `kill -9` of the supervisor still stops them (SIGTERM lets the embedded Redis
save and gunicorn finish its requests). The processes those children fork (gunicorn's
workers, RQ's work-horse and scheduler) get the same tie at fork (`die_with_parent_at_fork`,
gunicorn's `post_fork` hook in `callcenter.gunicorn_config`), since the kernel clears it
across fork.

The kernel sends the signal when the *thread* that forked the process ends, so children must
be started from a thread that lives as long as the parent (`callcenter run` starts and
restarts them from its main thread).

Elsewhere than Linux there is no such call and these functions do nothing (they return
False): there `callcenter run` still stops its children on Ctrl-C and SIGTERM, but a
`kill -9` of it leaves them running. Production under systemd does not depend on this: the
service manager stops every process of a unit's control group (docs/examples/systemd/).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

_prctl: Callable[..., int] | None = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        # Resolved here, once, so a preexec function (run between fork and exec, where
        # loading a library could deadlock on a lock another thread held) only calls it.
        _prctl = ctypes.CDLL(None, use_errno=True).prctl


def supported() -> bool:
    """Whether this system can tie a process's life to its parent's."""
    return _prctl is not None


def die_with_parent(signum: int = signal.SIGTERM, *, parent: int | None = None) -> bool:
    """Ask the kernel to send `signum` to this process when its parent ends.

    `parent` is the pid the caller expects as parent: if it is already gone (the parent died
    before the tie was made), the signal is sent at once. Returns False where unsupported.
    """
    if _prctl is None or _prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) != 0:
        return False
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), signum)
    return True


def preexec_die_with_parent(signum: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A `subprocess.Popen(preexec_fn=...)` that ties the child to us; None if unsupported."""
    if _prctl is None:
        return None
    parent = os.getpid()

    def tie() -> None:
        die_with_parent(signum, parent=parent)

    return tie


def die_with_parent_at_fork(signum: int = signal.SIGKILL) -> bool:
    """Tie every process this one forks from now on to it (RQ's work-horse and scheduler).

    SIGKILL: a forked helper has nothing to save, and must not outlive the process that
    manages it (a scheduler left behind would hold RQ's scheduler lock).
    """
    if _prctl is None:
        return False
    forking = [os.getpid()]  # the process that forks (this one, or a child that forks again)

    def note_parent() -> None:
        forking[0] = os.getpid()

    def tie() -> None:
        die_with_parent(signum, parent=forking[0])

    os.register_at_fork(before=note_parent, after_in_child=tie)
    return True
