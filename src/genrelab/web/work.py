"""Bounding the work the web app does: admission (slots + a short queue), per-request budgets, cancellation.

- :class:`Gate`: at most ``slots`` classifications run at once (default: one per CPU core, each in its own
  worker thread); up to ``queue`` more requests wait for a slot. A request beyond that is answered
  503 with ``Retry-After`` at once, before its body is stored, so memory and disk stay bounded
  however many clients come.
- :class:`Budget`: the most audio (seconds, windows) one request may ask for, and its wall-clock time.
- :class:`CancelToken`: what a worker thread checks between blocks of audio (through
  :func:`genrelab.audio.cancel_scope`): it stops the work when the client disconnects, the
  wall-clock budget is spent or the server shuts down.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, TypeVar

from genrelab.audio import WorkCancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    """Per-request limits: audio length (``max_audio_seconds``), classified windows (``max_windows``) and
    wall-clock seconds of work (``max_seconds``; past it the work is cancelled and 503 answered)."""

    max_audio_seconds: float = 3600.0
    max_windows: int = 4000
    max_seconds: float = 300.0

    @classmethod
    def from_env(cls) -> "Budget":
        env = os.environ.get
        return cls(float(env("GENRELAB_MAX_AUDIO_SECONDS", cls.max_audio_seconds)),
                   int(env("GENRELAB_MAX_WINDOWS", cls.max_windows)),
                   float(env("GENRELAB_MAX_REQUEST_SECONDS", cls.max_seconds)))


class CancelToken:
    """Cancelled by :meth:`cancel` (client gone, shutdown) or when ``deadline`` (monotonic) passes."""

    def __init__(self, deadline: Optional[float] = None, shutdown: Optional[threading.Event] = None):
        self.deadline = deadline
        self.shutdown = shutdown
        self.reason: Optional[str] = None
        self._event = threading.Event()

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`WorkCancelled` when the work should stop (called between blocks of audio)."""
        if self.shutdown is not None and self.shutdown.is_set():
            self.cancel("the server is shutting down")
        if self.deadline is not None and time.monotonic() > self.deadline:
            self.cancel("the request ran past its time budget")
        if self._event.is_set():
            raise WorkCancelled(self.reason or "cancelled")


class Busy(Exception):
    """No slot and no room in the queue (answer 503 with ``retry_after`` seconds)."""

    def __init__(self, retry_after: int):
        super().__init__("busy")
        self.retry_after = retry_after


class Gate:
    """Admission control: ``slots`` worker threads, ``queue`` waiting requests, 503 past that."""

    def __init__(self, slots: Optional[int] = None, queue: Optional[int] = None, retry_after: int = 5):
        self.slots = max(1, slots or (os.cpu_count() or 1))
        self.queue = self.slots * 4 if queue is None else max(0, queue)
        self.retry_after = retry_after
        self.shutdown = threading.Event()
        self._admitted = 0  # running + waiting (asyncio side only: no lock needed)
        self._sem: Optional[asyncio.Semaphore] = None
        self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="genrelab-work")
        self.running = 0  # worker threads busy right now (read by tests and health checks)
        self.peak_running = 0
        self._count_lock = threading.Lock()

    @property
    def admitted(self) -> int:
        return self._admitted

    def enter(self) -> None:
        """Admit one request or raise :class:`Busy` (called before its body is read)."""
        if self.shutdown.is_set() or self._admitted >= self.slots + self.queue:
            raise Busy(self.retry_after)
        self._admitted += 1

    def leave(self) -> None:
        self._admitted -= 1

    async def run(self, fn: Callable[[CancelToken], T], token: CancelToken,
                  disconnected: Callable[[], "asyncio.Future[bool]"], poll: float = 0.25) -> T:
        """Run ``fn(token)`` in a worker thread once a slot is free; cancel the token when the client leaves
        (``disconnected()`` is polled) or this task is cancelled (server shutdown)."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        async with self._sem:
            if await disconnected():  # the client left while queued
                token.cancel("the client disconnected")
            token.check()  # the budget may also have run out while queued
            loop = asyncio.get_running_loop()
            fut = loop.run_in_executor(self._pool, self._call, fn, token)
            try:
                while True:
                    done, _ = await asyncio.wait({fut}, timeout=poll)
                    if done:
                        return fut.result()
                    if await disconnected():
                        token.cancel("the client disconnected")
            except BaseException:
                token.cancel("the request was cancelled")
                raise

    def _call(self, fn: Callable[[CancelToken], T], token: CancelToken) -> T:
        with self._count_lock:
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
        try:
            token.check()
            return fn(token)
        finally:
            with self._count_lock:
                self.running -= 1

    def open(self) -> None:
        """(Re)start serving: called when the app starts (an app may be started again, e.g. by tests)."""
        self.shutdown.clear()
        self._sem = None  # an asyncio.Semaphore belongs to one event loop
        if getattr(self._pool, "_shutdown", False):
            self._pool = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="genrelab-work")

    def close(self) -> None:
        """Stop: refuse new requests, cancel running work at its next check, do not wait for the threads."""
        self.shutdown.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
