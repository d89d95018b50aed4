"""Child process of the recorder tests: records a paced measurement stream with deterministic values.

Usage: ``python _recorder_child.py PATH [--rate HZ] [--seconds S] [--flush S] [--no-health]``

Stream ``meas/a+b``: sample ``k`` has ``t = k / rate`` [s], ``a = k`` [A], ``b = -k`` [rad/s],
``seq = k``, ``latency = (1 + k % 7) ms``, ``outcome = 1`` every tenth sample (else 0); stream
``health`` (unless ``--no-health``) gets one sample per flush. Prints ``started``, then ``flushed <n>`` (samples of
``meas/a+b`` on disk) after every flush, and ``closed`` at the end.
"""

from __future__ import annotations

import argparse
import time

from phystwin.records.hdf5 import SignalInfo
from phystwin.records.recorder import Recorder

STREAM = "meas/a+b"
SIGNALS = [
    SignalInfo("a", "A", "measurement", "current"),
    SignalInfo("b", "rad/s", "measurement", "speed"),
    SignalInfo("seq", "1", "meta", "sequence number"),
    SignalInfo("latency", "s", "meta", "arrival to estimate"),
    SignalInfo("outcome", "1", "meta", "0 accepted"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=1e9)
    ap.add_argument("--flush", type=float, default=0.1)
    ap.add_argument("--no-health", action="store_true", help="no health stream")
    args = ap.parse_args()
    rec = Recorder(args.path, kind="run", config_text="[twin]\n", provenance={"twin_name": "child"},
                   flush_interval=args.flush)  # fmt: skip
    rec.add_stream(STREAM, SIGNALS)
    if not args.no_health:
        rec.add_stream("health", [SignalInfo("status", "1", "status"), SignalInfo("stale_sensors", "1", "status")])
    rec.start()
    print("started", flush=True)
    t0 = time.monotonic()
    k = 0
    while True:
        elapsed = time.monotonic() - t0
        due = min(int(elapsed * args.rate), int(args.seconds * args.rate))
        while k < due:
            values = {"a": k, "b": -k, "seq": k, "latency": 1e-3 * (1 + k % 7), "outcome": float(k % 10 == 0)}
            rec.append(STREAM, k / args.rate, values)
            k += 1
        if rec.maybe_flush():
            if not args.no_health:
                rec.append("health", elapsed, {"status": 0.0, "stale_sensors": 0.0})
            print(f"flushed {rec.written[STREAM]}", flush=True)
        if k >= args.seconds * args.rate:
            break
        time.sleep(0.002)
    rec.close({"status": "ok", "samples": k})
    print("closed", flush=True)


if __name__ == "__main__":
    main()
