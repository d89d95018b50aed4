"""What both OPC UA ends share: the asyncio event loop thread driven from synchronous code, the
ordered non-blocking writer on it, and the base class with the checked start-up and bounded close."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
import time
import urllib.parse
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from phystwin.hil._opcua_options import OpcuaOptions, _check_files, _endpoint, _password
from phystwin.hil.link import LinkEnd, LinkError, LinkStats

log = logging.getLogger("phystwin.hil")

_MAX_PENDING = 100_000  # writes waiting for the event loop, per link
_STOP_TIMEOUT = 3.0  # s, per close() stage

_T = TypeVar("_T")


# ------------------------------------------------------------------------------------ event loop
class _LoopThread:
    """An asyncio event loop running in a daemon thread, driven from synchronous code."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            try:
                tasks = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
                for task in tasks:
                    task.cancel()
                if tasks:
                    self.loop.run_until_complete(asyncio.wait(tasks, timeout=1.0))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Call ``fn(*args)`` on the loop thread (non-blocking, in order)."""
        self.loop.call_soon_threadsafe(fn, *args)

    def stop(self, timeout: float) -> bool:
        """Stop the loop and join the thread; False if it did not end within ``timeout``."""
        if self.loop.is_running():
            with contextlib.suppress(RuntimeError):  # loop already closed
                self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        return not self._thread.is_alive()


class _Writer:
    """Ordered, non-blocking writes: items queued from any thread, written by one task on the loop."""

    def __init__(self, loop_thread: _LoopThread, write: Callable[[Any], Awaitable[None]], stats: LinkStats, who: str):
        self._lt = loop_thread
        self._write = write
        self._stats = stats
        self._who = who
        self._pending = 0
        self._lock = threading.Lock()
        self._queue: asyncio.Queue[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_error_log = -math.inf

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._drain())

    def submit(self, item: Any) -> None:
        with self._lock:
            if self._pending >= _MAX_PENDING:
                full = True
            else:
                full = False
                self._pending += 1
        if full or self._queue is None:
            self._stats.count("send_errors")
            return
        try:
            self._lt.call(self._queue.put_nowait, item)
        except RuntimeError:  # loop closed
            with self._lock:
                self._pending -= 1
            self._stats.count("send_errors")

    async def _drain(self) -> None:
        queue = self._queue
        if queue is None:
            return
        while True:
            item = await queue.get()
            try:
                await self._write(item)
                self._stats.count("sent")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._stats.count("send_errors")
                now = time.monotonic()
                if now - self._last_error_log >= 1.0:
                    self._last_error_log = now
                    log.warning("%s: write failed (%s: %s)", self._who, type(exc).__name__, exc)
            finally:
                with self._lock:
                    self._pending -= 1

    async def flush(self, timeout: float) -> None:
        """Wait (at most ``timeout`` s) until the queued writes are done."""
        deadline = time.monotonic() + timeout
        while self._pending > 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# ---------------------------------------------------------------------------------------- both ends
class _OpcuaEnd(LinkEnd):
    """What both ends share: checked options, counters, the event loop thread and its ordered
    writer, the start-up that turns any failure into a :class:`LinkError`, and a bounded close."""

    _role: str
    """``"twin"`` or ``"bench"``, for thread names and messages."""
    _secure_files: tuple[str, ...]
    """Option keys of the files a secure policy needs on this side."""
    _teardown_step: str
    """How the close log names :meth:`_teardown` when it fails."""

    def _open(
        self, url: urllib.parse.SplitResult, streams: tuple[str, ...], actuators: tuple[str, ...], options: OpcuaOptions
    ) -> tuple[str, int]:
        """Check the URL, password and files; set names, options and counters; (host, port) of the URL."""
        host, port, self.endpoint = _endpoint(url)
        self._open_end(streams, actuators, f"opcua {self._role} <- {self.endpoint}")
        self.options = options
        self._password = _password(options)
        if options.security_policy != "None":
            _check_files(options, *self._secure_files)
        self._closed = False
        self._close_lock = threading.Lock()
        return host, port

    def _start_loop(self, write: Callable[[Any], Awaitable[None]], who: str) -> None:
        """Start the event loop thread and the writer that runs ``write`` on it (``who`` names it in logs)."""
        self._lt = _LoopThread(f"opcua-{self._role} {self.endpoint}")
        self._writer = _Writer(self._lt, write, self.stats, who)

    def _begin(self, coro: Coroutine[Any, Any, None], timeout: float, failing: str, event: str) -> None:
        """Run the start-up ``coro`` on the loop, then record ``event``.

        On any failure the end is shut down; a :class:`LinkError` passes through, any other error
        becomes ``LinkError("OPC UA <endpoint>: <failing> (<reason>)")``.
        """
        try:
            self._lt.run(coro, timeout)
        except Exception as exc:
            self._shutdown()
            if isinstance(exc, LinkError):
                raise
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise LinkError(f"OPC UA {self.endpoint}: {failing} ({reason})") from None
        self.stats.event(event)

    @abstractmethod
    async def _teardown(self) -> None:
        """Stop the writer and the client or server (on the loop, within ``_STOP_TIMEOUT``)."""

    def flush(self, timeout: float = 1.0) -> None:
        """Wait at most ``timeout`` seconds until the queued writes (commands or samples) are done."""
        if not self._closed:
            self._lt.run(self._writer.flush(timeout), timeout + 1.0)

    def _shutdown(self) -> None:
        self._closed = True
        try:
            if self._lt.loop.is_running():
                self._lt.run(self._teardown(), _STOP_TIMEOUT + 0.5)
        except Exception as exc:
            log.info("opcua %s %s: %s: %s: %s", self._role, self.endpoint, self._teardown_step, type(exc).__name__, exc)
        if not self._lt.stop(_STOP_TIMEOUT):
            log.warning("opcua %s %s: event loop thread did not stop in time", self._role, self.endpoint)

    def close(self) -> None:
        """Stop the client or server and its event loop thread (bounded, a few seconds at most); idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._shutdown()
            self.stats.event(f"closed {self.endpoint}")
