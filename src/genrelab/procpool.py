"""Worker process pools whose workers die with their parent.

``concurrent.futures.ProcessPoolExecutor`` workers outlive a parent killed by ``kill -9`` (they are
re-parented and keep running and writing). :func:`process_pool` builds an executor whose workers
exit when the process that made them goes away:

* on Linux the worker asks the kernel for ``SIGKILL`` when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
* everywhere, a daemon watchdog thread checks once per ``interval`` seconds that the parent is still
  the same process (``os.getppid()``) and ends the worker with ``os._exit`` otherwise.

The workers are started with the ``spawn`` method (no inherited locks or threads). A batch command uses
it exactly like a ``ProcessPoolExecutor``::

    with process_pool(4, initializer=load_model, initargs=(name,)) as pool:
        ...
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

#: seconds between two checks of the watchdog thread
WATCH_INTERVAL = 0.5
_PR_SET_PDEATHSIG = 1


def _set_pdeathsig(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent_pid: int, interval: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # the parent is gone: stop now, write nothing more
        time.sleep(interval)


def die_with_parent(parent_pid: int | None = None, interval: float = WATCH_INTERVAL, kernel: bool = True) -> None:
    """Make the calling (worker) process end as soon as ``parent_pid`` (default: its parent) is gone.

    ``kernel``: also use ``PR_SET_PDEATHSIG`` (Linux). The kernel signals when the parent *thread* that
    started the worker ends, so only ask for it when workers are started from a thread that lives as long
    as the pool (the main thread); the watchdog thread alone reacts within ``interval`` seconds.
    """
    parent = os.getppid() if parent_pid is None else int(parent_pid)
    if kernel:
        _set_pdeathsig()
    if os.getppid() != parent:  # the parent died before the kernel hook was in place
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, interval), name="genrelab-parent-watch", daemon=True).start()


def _init(parent_pid: int, interval: float, kernel: bool, initializer: Callable[..., Any] | None,
          initargs: Sequence[Any]) -> None:
    die_with_parent(parent_pid, interval, kernel)
    if initializer is not None:
        initializer(*initargs)


def process_pool(max_workers: int, *, initializer: Callable[..., Any] | None = None, initargs: Sequence[Any] = (),
                 interval: float = WATCH_INTERVAL, **kwargs: Any) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` (spawn start method) whose workers die with this process.

    ``initializer(*initargs)`` runs in each worker after the parent watch is set up; it must be a
    module-level function (spawned workers import it by name). Other keyword arguments go to the executor.
    Workers start on ``submit``: the kernel hook is used when the pool is made in the main thread (submit
    from that thread too); from another thread the watchdog alone ends orphaned workers.
    """
    import multiprocessing as mp

    kwargs.setdefault("mp_context", mp.get_context("spawn"))
    kernel = threading.current_thread() is threading.main_thread()
    return ProcessPoolExecutor(max_workers=max_workers, initializer=_init,
                               initargs=(os.getpid(), float(interval), kernel, initializer, tuple(initargs)), **kwargs)


__all__ = ["process_pool", "die_with_parent", "WATCH_INTERVAL"]
