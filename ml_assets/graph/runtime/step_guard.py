"""Step processes die with their run.

Training runs execute each step in a process forked by a multiprocessing forkserver (executors.py),
which is not the run worker's child but its grandchild. A kill -9 of the run worker ends the
forkserver (its pipe to the run worker closes), but the step processes it forked would live on:
they finished training, registered a version and moved `champion` while their run was dead.

Imported first by the forkserver (PRELOAD_MODULES), this module asks Linux to SIGKILL every step
process the forkserver forks as soon as the forkserver exits (prctl PR_SET_PDEATHSIG). Imported
anywhere else it does nothing. Elsewhere than Linux there is no such signal; the promotion fence
(promotion.py) still refuses to promote for a run that is no longer STARTED.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def _in_forkserver() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "main" and frame.f_globals.get("__name__") == "multiprocessing.forkserver":
            return True
        frame = frame.f_back
    return False


def _die_with(parent: int) -> None:
    if os.getppid() != parent:
        return  # a process forked by a step (not by the forkserver): not ours to tie
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the forkserver died before the signal was armed
        os.kill(os.getpid(), signal.SIGKILL)


if sys.platform.startswith("linux") and _in_forkserver():
    _FORKSERVER = os.getpid()
    os.register_at_fork(after_in_child=lambda: _die_with(_FORKSERVER))
