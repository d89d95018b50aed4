"""The live HDF5 recorder: samples of many streams appended as they come, readable while written.

The file follows the layout of :mod:`phystwin.records.hdf5` (format ``phystwin-record``): root
attributes with the format, versions, run configuration and provenance; one group per stream with a
time scale ``t`` [s] and one ``f8`` dataset per signal carrying its unit. Stream names may hold
``/`` (``meas/current+speed``): the stream then lives in nested groups, and
:func:`~phystwin.records.hdf5.read_record` keys it by that path.

Life cycle::

    rec = Recorder("run.h5", kind="run", config_text=text, provenance={...})
    rec.add_stream("meas/current", [SignalInfo("current", "A", "measurement")])
    rec.start()                                 # root attributes written, file switched to SWMR
    rec.append("meas/current", 0.01, {"current": 1.5})
    rec.maybe_flush()                           # writes when flush_interval has passed
    rec.close({"status": "ok"})                 # root attributes summary (JSON) and complete = True

Appending is cheap (a few Python list appends); HDF5 is only touched in :meth:`Recorder.flush`. Each
flush writes the signal datasets first, makes them durable (``File.flush``), then extends the time
vectors and flushes again. A reader (SWMR, see ``read_record``) or a file left by a killed writer
therefore never shows a time whose values are not on disk, and every sample of the last completed
flush survives a ``SIGKILL``.

Time of a stream is strictly increasing: a sample whose time is not after the last one appended to
its stream (or is not finite) is dropped, counted in :attr:`Recorder.dropped` and logged at most
once per second per stream (logger ``phystwin.records``) -- late or duplicated data is a fact of
live feeds, not an error. A missing or unknown signal or an unknown stream is a programming error
and raises :class:`ValueError`.
"""

from __future__ import annotations

import logging
import math
import operator
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from phystwin.errors import InvalidValueError, OperationError
from phystwin.records.hdf5 import FORMAT, FORMAT_VERSION, SignalInfo, _json, create_stream, versions

__all__ = ["Recorder"]

log = logging.getLogger("phystwin.records")

_LOG_EVERY = 1.0
"""Minimum time between two log lines about dropped samples of one stream [s]."""
_RESERVED_ATTRS = frozenset(
    {"format", "format_version", "kind", "created_utc", "config", "provenance", "complete", "summary", "written",
     "dropped"}
)  # fmt: skip
"""Root attributes the recorder writes itself."""
_REOPEN_TRIES = 10
_REOPEN_WAIT = 0.05
"""Attempts and pause [s] to reopen the closed file for its summary while readers hold a lock."""


@dataclass
class _Stream:
    """Declaration and in-memory buffer of one stream."""

    name: str
    signals: tuple[SignalInfo, ...]
    attrs: dict[str, Any]
    chunk: int
    names: tuple[str, ...] = ()
    tds: Any = None  # the time scale dataset, once created
    datasets: list[h5py.Dataset] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)  # per sample: the values (a scalar for one signal)
    getter: Any = None
    last_t: float = -math.inf
    written: int = 0
    dropped: int = 0
    dropped_unlogged: int = 0
    last_log: float = -math.inf

    def __post_init__(self) -> None:
        self.names = tuple(s.name for s in self.signals)
        self.getter = operator.itemgetter(*self.names) if self.names else (lambda _values: ())


def _attr_value(value: Any) -> Any:
    """An HDF5 attribute value: numbers, booleans and strings as they are, anything else as JSON."""
    if isinstance(value, str | bool | int | float | np.generic):
        return value
    return _json(value)


def _as_matrix(st: _Stream, rows: list[Any]) -> np.ndarray:
    """The buffered rows of ``st`` as a (N, n_signals) float array; a value that is not a number
    becomes NaN (and is logged) rather than losing the batch."""
    shape = (len(rows), len(st.names))
    try:
        return np.array(rows, dtype=np.float64).reshape(shape)
    except (TypeError, ValueError):
        pass
    out = np.full(shape, np.nan)
    bad = 0
    for i, row in enumerate(rows):
        for k, v in enumerate(row if len(st.names) != 1 else (row,)):
            try:
                out[i, k] = float(v)
            except (TypeError, ValueError):
                bad += 1
    log.error("stream %r: %d value(s) were not numbers; recorded as NaN", st.name, bad)
    return out


class Recorder:
    """Live recorder of timed samples into an HDF5 record, readable (SWMR) while it is written.

    Parameters
    ----------
    path : str or Path
        The file to create (its folder is created; an existing file is replaced at :meth:`start`).
    kind : str
        What is recorded, stored as root attribute ``kind`` (``"run"``, ``"bench"`` ...).
    config_text : str
        The run configuration's full text, stored as root attribute ``config``.
    provenance : mapping
        JSON-able facts about the run (``twin_type``, ``twin_name``, command line ...), stored as
        JSON in root attribute ``provenance``; ``twin_type``, ``twin_name``, ``model_name`` and
        ``model_structure_hash`` are also copied into root attributes of those names.
    attrs : mapping
        Further root attributes (non-scalar values stored as JSON text).
    flush_interval : float
        Time between two writes by :meth:`maybe_flush` [s] (monotonic clock).

    Attributes
    ----------
    flush_count : int
        Number of completed :meth:`flush` calls.
    last_flush : float
        ``time.monotonic()`` at the end of the last flush (or at :meth:`start`) [s].

    Notes
    -----
    Root attributes written at :meth:`start`: ``format``, ``format_version``, ``kind``,
    ``created_utc``, the versions of :func:`~phystwin.records.hdf5.versions`, ``config``,
    ``provenance`` (JSON), ``complete`` = False and ``attrs``; at :meth:`close`: ``complete`` = True,
    ``summary`` (JSON), ``written`` and ``dropped`` (JSON: samples per stream). A file left by a
    killed writer keeps ``complete`` = False and its SWMR flag: :func:`~phystwin.records.hdf5.read_record`
    reads it; other HDF5 tools may need ``h5clear -s`` first.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        kind: str,
        config_text: str = "",
        provenance: Mapping[str, Any] | None = None,
        attrs: Mapping[str, Any] | None = None,
        flush_interval: float = 1.0,
    ) -> None:
        if not math.isfinite(flush_interval) or flush_interval < 0.0:
            raise InvalidValueError(f"flush_interval must be a finite time >= 0 s, got {flush_interval!r}")
        clash = sorted(_RESERVED_ATTRS & set(attrs or {}))
        if clash:
            raise InvalidValueError(
                f"attrs {clash} are reserved for the record itself; reserved: {sorted(_RESERVED_ATTRS)}"
            )
        self._path = Path(path)
        self.kind = str(kind)
        self.config_text = str(config_text)
        self.provenance = dict(provenance or {})
        self.attrs = dict(attrs or {})
        self.flush_interval = float(flush_interval)
        self.flush_count = 0
        self.last_flush = time.monotonic()
        self._streams: dict[str, _Stream] = {}
        self._file: h5py.File | None = None
        self._state = "new"  # new -> started -> closed
        self._lock = threading.Lock()  # guards the buffers
        self._flush_lock = threading.Lock()  # one flush at a time
        self._flusher: threading.Thread | None = None
        self._flush_error: Exception | None = None

    # ------------------------------------------------------------------------------ properties
    @property
    def path(self) -> Path:
        """The record's file."""
        return self._path

    @property
    def streams(self) -> list[str]:
        """Names of the declared streams, in declaration order."""
        return list(self._streams)

    @property
    def written(self) -> dict[str, int]:
        """Samples written to the file so far, per stream [1]."""
        return {k: s.written for k, s in self._streams.items()}

    @property
    def dropped(self) -> dict[str, int]:
        """Samples dropped because their time was not after the stream's last one, per stream [1]."""
        return {k: s.dropped for k, s in self._streams.items()}

    @property
    def buffered(self) -> dict[str, int]:
        """Samples appended but not yet written, per stream [1]."""
        return {k: len(s.t) for k, s in self._streams.items()}

    # ------------------------------------------------------------------------------ declaration
    def add_stream(
        self,
        name: str,
        signals: Sequence[SignalInfo],
        *,
        attrs: Mapping[str, Any] | None = None,
        chunk: int = 1024,
    ) -> None:
        """Declare a stream (before :meth:`start`): its signals with units and roles.

        Parameters
        ----------
        name : str
            Stream path; ``/`` separates nested groups (``"meas/current+speed"``). A stream cannot
            lie inside another one, and ``parameters`` is reserved.
        signals : sequence of SignalInfo
            The signals recorded at each sample time (unique names).
        attrs : mapping, optional
            Attributes of the stream's group (non-scalar values as JSON).
        chunk : int
            HDF5 chunk length of the stream's datasets [samples].
        """
        if self._state != "new":
            raise OperationError(f"{self._path}: streams must be declared before start()")
        parts = name.split("/")
        if not name or any(p in ("", ".", "..") for p in parts) or parts[0] == "parameters":
            raise InvalidValueError(f"invalid stream name {name!r}: non-empty '/'-separated parts, not 'parameters'")
        for other in self._streams:
            if other == name or other.startswith(name + "/") or name.startswith(other + "/"):
                raise InvalidValueError(f"stream {name!r} clashes with the declared stream {other!r}")
        names = [s.name for s in signals]
        if len(set(names)) != len(names):
            raise InvalidValueError(f"stream {name!r}: signal names must be unique, got {names}")
        if int(chunk) < 1:
            raise InvalidValueError(f"stream {name!r}: chunk must be >= 1 sample, got {chunk!r}")
        self._streams[name] = _Stream(name, tuple(signals), dict(attrs or {}), int(chunk))

    def start(self) -> None:
        """Create the file, write root attributes and every stream, then switch to SWMR mode."""
        if self._state != "new":
            raise OperationError(f"{self._path}: recorder already started")
        self._path.parent.mkdir(parents=True, exist_ok=True)
        f = h5py.File(self._path, "w", libver="latest", track_order=True)
        try:
            for key, value in versions().items():
                f.attrs[key] = value
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            f.attrs["kind"] = self.kind
            f.attrs["created_utc"] = datetime.now(UTC).isoformat(timespec="seconds")
            f.attrs["config"] = self.config_text
            f.attrs["provenance"] = _json(self.provenance)
            for key in ("twin_type", "twin_name", "model_name", "model_structure_hash"):
                f.attrs[key] = str(self.provenance.get(key, ""))
            for key, value in self.attrs.items():
                f.attrs[key] = _attr_value(value)
            f.attrs["complete"] = False
            for st in self._streams.values():
                parent_path, _, leaf = st.name.rpartition("/")
                parent = f.require_group(parent_path) if parent_path else f
                grp = create_stream(parent, leaf, st.signals, chunk=st.chunk)
                grp.attrs["kind"] = "live"
                for key, value in st.attrs.items():
                    grp.attrs[key] = _attr_value(value)
                st.tds = grp["t"]
                by_name = {str(ds.attrs["name"]): ds for key, ds in grp.items() if key != "t"}
                st.datasets = [by_name[n] for n in st.names]
            f.flush()
            f.swmr_mode = True
        except BaseException:
            f.close()
            raise
        self._file = f
        self._state = "started"
        self.last_flush = time.monotonic()

    # ------------------------------------------------------------------------------ appending
    def _stream(self, name: str) -> _Stream:
        st = self._streams.get(name)
        if st is None:
            raise InvalidValueError(
                f"{self._path}: unknown stream {name!r}; declared: {', '.join(self._streams) or '(none)'}"
            )
        if self._state != "started":
            raise OperationError(f"{self._path}: recorder is {self._state}, not started")
        return st

    def _bad_values(self, st: _Stream, values: Mapping[str, Any]) -> ValueError:
        missing = [n for n in st.names if n not in values]
        unknown = [n for n in values if n not in st.names]
        return ValueError(
            f"stream {st.name!r}: missing signal(s) {missing}, unknown signal(s) {unknown}; expected {list(st.names)}"
        )

    def _count_drops(self, st: _Stream, n: int, t: float) -> None:
        st.dropped += n
        st.dropped_unlogged += n
        now = time.monotonic()
        if now - st.last_log >= _LOG_EVERY:
            log.warning(
                "stream %r: dropped %d sample(s) not after its last time %.9g s (latest offered t = %.9g s); "
                "%d dropped in total",
                st.name, st.dropped_unlogged, st.last_t, t, st.dropped,
            )  # fmt: skip
            st.dropped_unlogged = 0
            st.last_log = now

    def append(self, stream: str, t: float, values: Mapping[str, float]) -> None:
        """Buffer one sample of ``stream`` at time ``t`` [s].

        ``values`` maps every signal name of the stream to a real number in the signal's unit (NaN
        allowed; a value that is not a number is recorded as NaN and logged at the flush). A time not
        after the stream's last one is dropped and counted. Costs about a microsecond: no HDF5 here.
        """
        st = self._streams.get(stream)
        if st is None or self._state != "started":
            self._stream(stream)  # raises the right error
            return
        try:
            row = st.getter(values)
        except KeyError:
            raise self._bad_values(st, values) from None
        if len(values) != len(st.names):
            raise self._bad_values(st, values)
        self._buffer(st, t, row)

    def _buffer(self, st: Any, t: float, row: Any) -> None:
        """Keep one sample whose time comes after the stream's last one; count and drop it otherwise."""
        with self._lock:
            if st.last_t < t < math.inf:
                st.last_t = t
                st.t.append(t)
                st.rows.append(row)
            else:
                self._count_drops(st, 1, float(t))

    def append_row(self, stream: str, t: float, row: Sequence[float]) -> None:
        """:meth:`append` with the values as a sequence in the order the stream's signals were
        declared (no mapping to build and look up: for a writer that declared the stream itself).

        Raises
        ------
        ValueError
            If ``row`` does not have one value per signal (or the stream is unknown).
        """
        st = self._streams.get(stream)
        if st is None or self._state != "started":
            self._stream(stream)  # raises the right error
            return
        n = len(st.names)
        if len(row) != n:
            raise InvalidValueError(f"stream {st.name!r}: {len(row)} value(s) for the {n} signal(s) {list(st.names)}")
        self._buffer(st, t, row[0] if n == 1 else tuple(row))  # what append() buffers: a scalar for one signal

    def append_rows(self, stream: str, t: np.ndarray, values: Mapping[str, np.ndarray]) -> None:
        """Buffer many samples of ``stream``: times ``t`` [s] (N,) and one (N,) array per signal.

        Samples whose time is not after every earlier time of the stream are dropped and counted.
        """
        st = self._stream(stream)
        tv = np.asarray(t, dtype=np.float64).reshape(-1)
        if set(values) != set(st.names):
            raise self._bad_values(st, values)
        cols = []
        for n in st.names:
            v = np.asarray(values[n], dtype=np.float64).reshape(-1)
            if v.shape != tv.shape:
                raise InvalidValueError(f"stream {stream!r}: signal {n!r} has {v.size} values for {tv.size} times")
            cols.append(v)
        if tv.size == 0:
            return
        with self._lock:
            finite = np.isfinite(tv)
            before = np.fmax.accumulate(np.concatenate([[st.last_t], np.where(finite, tv, -np.inf)[:-1]]))
            keep = finite & (tv > before)
            kept = int(np.count_nonzero(keep))
            if kept:
                st.t.extend(tv[keep].tolist())
                if len(cols) == 1:
                    st.rows.extend(cols[0][keep].tolist())
                else:
                    st.rows.extend(zip(*(c[keep].tolist() for c in cols), strict=True))
                st.last_t = float(tv[keep][-1])
            if kept < tv.size:
                self._count_drops(st, tv.size - kept, float(tv[~keep][-1]))

    # ------------------------------------------------------------------------------ writing
    def maybe_flush(self, background: bool = False) -> bool:
        """:meth:`flush` if at least ``flush_interval`` seconds passed since the last one; returns
        whether it flushed (or, with ``background``, started a flush).

        ``background=True`` runs the flush on a helper thread: a flush of a live run's streams takes
        ~10 ms, which a real-time loop cannot stall for (h5py releases the GIL while HDF5 writes, and
        :meth:`append` only touches the lock-guarded buffers). A background flush that fails is
        re-raised by the next call or by :meth:`close`.
        """
        self._raise_flush_error()
        if self._state != "started" or time.monotonic() - self.last_flush < self.flush_interval:
            return False
        if not background:
            self.flush()
            return True
        if self._flusher is not None and self._flusher.is_alive():
            return False
        self.last_flush = time.monotonic()  # the interval counts from the start of this flush
        self._flusher = threading.Thread(target=self._flush_in_background, name="recorder-flush", daemon=True)
        self._flusher.start()
        return True

    def _flush_in_background(self) -> None:
        try:
            self.flush()
        except Exception as exc:  # handed to the writer's thread by _raise_flush_error
            self._flush_error = exc

    def _raise_flush_error(self) -> None:
        exc, self._flush_error = self._flush_error, None
        if exc is not None:
            raise OSError(f"{self._path}: background flush failed: {exc}") from exc

    def _join_flusher(self) -> None:
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None

    def flush(self) -> None:
        """Write every buffered sample to the file and make it durable and visible to readers."""
        if self._state != "started" or self._file is None:
            return
        with self._flush_lock:
            self._flush(self._file)

    def _flush(self, f: h5py.File) -> None:
        with self._lock:
            pending = []
            for st in self._streams.values():
                if st.t:
                    pending.append((st, np.array(st.t, dtype=np.float64), st.rows))
                    st.t, st.rows = [], []
        for st, _, rows in pending:  # values first ...
            data = _as_matrix(st, rows)
            n0 = st.written
            for k, ds in enumerate(st.datasets):
                ds.resize((n0 + len(rows),))
                ds[n0:] = data[:, k]
        if pending:
            f.flush()
        for st, tv, _ in pending:  # ... then the times that make them visible
            st.tds.resize((st.written + tv.size,))
            st.tds[st.written :] = tv
            st.written += tv.size
        f.flush()
        self.flush_count += 1
        self.last_flush = time.monotonic()

    def close(self, summary: Mapping[str, Any] | None = None) -> Path:
        """Flush, close, and mark the record complete (root attributes ``complete`` = True and
        ``summary``, JSON text, when given). Idempotent; returns the file's path.

        SWMR forbids new attributes while writing, so the closed file is reopened to store them.
        Live readers hold a lock on it; the reopen waits briefly for them, then proceeds without
        file locking (readers reopen on every read and see the final state). Should even that fail
        (a reader in this very process keeps the file open), the failure is logged, not raised:
        every sample is on disk, only ``complete`` stays false.
        """
        if self._state == "closed":
            return self._path
        self._join_flusher()
        if self._state == "new" or self._file is None:
            self._state = "closed"
            return self._path
        try:
            self.flush()
            self._raise_flush_error()
        finally:
            self._file.close()
            self._file = None
            self._state = "closed"
        dropped = {k: n for k, n in self.dropped.items() if n}
        if dropped:
            log.warning("%s: samples dropped (time not after the previous one), per stream: %s", self._path, dropped)
        self._mark_complete(summary)
        return self._path

    def _mark_complete(self, summary: Mapping[str, Any] | None) -> None:
        error: OSError | None = None
        for attempt in range(_REOPEN_TRIES + 1):
            try:
                kw: dict[str, Any] = {} if attempt < _REOPEN_TRIES else {"locking": False}
                with h5py.File(self._path, "r+", **kw) as f:
                    if summary is not None:
                        f.attrs["summary"] = _json(dict(summary))
                    f.attrs["written"] = _json(self.written)
                    f.attrs["dropped"] = _json(self.dropped)
                    f.attrs["complete"] = True
                return
            except OSError as exc:
                error = exc
                time.sleep(_REOPEN_WAIT)
        # every sample is on disk; only the completion mark is missing: report, do not fail the run
        log.error("%s: could not mark the record complete (%s); summary: %s", self._path, error, summary)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.close({"status": "error", "message": f"{exc_type.__name__}: {exc}"})

    def __repr__(self) -> str:
        return f"Recorder({str(self._path)!r}, kind={self.kind!r}, {self._state}, streams={self.streams})"
