"""Safety envelope and watchdog (QUALITY row "actuator commands")."""

from __future__ import annotations

import logging
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phystwin.hil.link import Command
from phystwin.hil.safety import UNKNOWN_ACTUATOR, ActuatorLimits, Decision, SafetyEnvelope, Watchdog

VOLT = ActuatorLimits("voltage", "V", 0.0, 24.0, max_rate=100.0, safe_value=0.0, refuse_beyond=6.0)


def env(**kw) -> SafetyEnvelope:
    return SafetyEnvelope([VOLT, ActuatorLimits("load_torque", "N*m", -0.5, 0.5, safe_value=0.1)], **kw)


# ---------------------------------------------------------------- limits validation


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"low": 1.0, "high": 1.0}, "low must be < high"),
        ({"low": math.nan}, "low must be finite"),
        ({"high": math.inf}, "high must be finite"),
        ({"max_rate": 0.0}, "max_rate"),
        ({"max_rate": math.nan}, "max_rate"),
        ({"safe_value": 30.0}, "safe_value 30.0 V lies outside"),
        ({"refuse_beyond": -1.0}, "refuse_beyond"),
        ({"refuse_beyond": math.inf}, "refuse_beyond"),
        ({"name": ""}, "name"),
    ],
)
def test_limits_validated(kwargs: dict, match: str) -> None:
    base = {"name": "voltage", "unit": "V", "low": 0.0, "high": 24.0}
    with pytest.raises(ValueError, match=match):
        ActuatorLimits(**(base | kwargs))


def test_envelope_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="twice"):
        SafetyEnvelope([VOLT, VOLT])


# ---------------------------------------------------------------- check


def test_applied_and_clamped() -> None:
    e = env()
    v = e.check(Command(0.0, "voltage", 12.0))
    assert (v.applied, v.decision, v.reason) == (12.0, Decision.APPLIED, "")
    v = e.check(Command(1.0, "voltage", 27.0))  # 3 V above, within refuse_beyond = 6 V
    assert v.applied == 24.0 and v.decision is Decision.CLAMPED and "clamped 27 -> 24 V" in v.reason
    v = e.check(Command(2.0, "voltage", -2.0))
    assert v.applied == 0.0 and v.decision is Decision.CLAMPED
    assert v.command(Command(2.0, "voltage", -2.0, seq=7)) == Command(2.0, "voltage", 0.0, seq=7)
    assert e.counters["voltage"] == {Decision.APPLIED: 1, Decision.CLAMPED: 2}


def test_rate_limited_with_time() -> None:
    e = env()
    e.check(Command(0.0, "voltage", 0.0))
    v = e.check(Command(0.01, "voltage", 24.0))  # 100 V/s * 10 ms = 1 V
    assert v.decision is Decision.RATE_LIMITED and v.applied == pytest.approx(1.0)
    assert "100 V/s" in v.reason
    v = e.check(Command(0.11, "voltage", 24.0))  # 100 ms later: +10 V
    assert v.applied == pytest.approx(11.0)
    v = e.check(Command(0.11, "voltage", 5.0))  # same instant: no change allowed
    assert v.applied == pytest.approx(11.0) and v.decision is Decision.RATE_LIMITED
    v = e.check(Command(1.0, "voltage", 5.0))  # enough time: applied as requested
    assert v.applied == 5.0 and v.decision is Decision.APPLIED
    v = e.check(Command(1.001, "voltage", 28.0))  # clamped to 24 V, then rate-limited to 5.1 V
    assert v.decision is Decision.RATE_LIMITED and v.applied == pytest.approx(5.1)
    assert "clamped" in v.reason and "rate-limited" in v.reason
    assert e.last_applied("voltage") == (1.001, pytest.approx(5.1))


def test_first_command_ramps_from_safe_value_with_t0() -> None:
    e = env(t0=0.0)
    v = e.check(Command(0.05, "voltage", 24.0))
    assert v.applied == pytest.approx(5.0) and v.decision is Decision.RATE_LIMITED
    e2 = env()  # no t0: the first command is only clamped
    assert e2.check(Command(0.05, "voltage", 24.0)).applied == 24.0


def test_refusals_are_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    e = env()
    e.check(Command(0.0, "voltage", 10.0))
    caplog.set_level(logging.WARNING, logger="phystwin.hil.safety")
    cases = [
        (Command(1.0, "voltage", 30.5), "more than 6 V outside [0, 24] V"),
        (Command(1.0, "voltage", -6.5), "more than 6 V outside"),
        (Command(1.0, "voltage", math.nan), "non-finite value nan"),
        (Command(1.0, "voltage", math.inf), "non-finite value inf"),
        (Command(1.0, "current", 1.0), "unknown actuator 'current' (known: load_torque, voltage)"),
        (Command(-1.0, "voltage", 5.0), "out of order"),
    ]
    for cmd, reason in cases:
        v = e.check(cmd)
        assert v.decision is Decision.REFUSED and v.applied is None and not v.sent
        assert reason in v.reason
        assert v.command(cmd) is None
    assert e.counters["voltage"][Decision.REFUSED] == 5
    assert e.counters[UNKNOWN_ACTUATOR][Decision.REFUSED] == 1
    assert "current" not in e.counters  # unknown names do not grow the counters
    refusals = [r for r in caplog.records if r.name == "phystwin.hil.safety" and "refused" in r.getMessage()]
    assert len(refusals) == len(cases)  # every refusal logged
    assert e.last_applied("voltage") == (0.0, 10.0)  # refusals change nothing
    assert e.summary()["voltage"] == {"APPLIED": 1, "REFUSED": 5}


def test_no_refuse_beyond_clamps_everything_finite() -> None:
    e = SafetyEnvelope([ActuatorLimits("v", "V", -1.0, 1.0)])
    assert e.check(Command(0.0, "v", 1e300)).applied == 1.0
    assert e.check(Command(0.0, "v", -1e300)).applied == -1.0
    assert e.check(Command(0.0, "v", -math.inf)).decision is Decision.REFUSED


def test_fallback(caplog: pytest.LogCaptureFixture) -> None:
    e = env()
    e.check(Command(0.0, "voltage", 0.0))
    e.check(Command(1.0, "voltage", 20.0))
    caplog.set_level(logging.WARNING, logger="phystwin.hil.safety")
    cmds = e.fallback(1.001, seq=9, reason="lost sync")
    assert {c.actuator: c.value for c in cmds} == {"voltage": 0.0, "load_torque": 0.1}
    assert all(c.t == 1.001 and c.seq == 9 for c in cmds)  # not rate-limited: 20 V -> 0 V in 1 ms
    assert e.counters["voltage"][Decision.FALLBACK] == 1 and e.counters["load_torque"][Decision.FALLBACK] == 1
    assert "lost sync" in caplog.text
    # the next ramp starts from the safe value
    v = e.check(Command(1.011, "voltage", 20.0))
    assert v.applied == pytest.approx(1.0)


request = st.tuples(
    st.floats(min_value=0.0, max_value=0.5),  # dt [s]
    st.one_of(
        st.floats(min_value=-60.0, max_value=60.0),
        st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, 24.0]),
    ),
)


@settings(max_examples=200, deadline=None)
@given(
    reqs=st.lists(request, min_size=1, max_size=60),
    max_rate=st.sampled_from([0.5, 100.0, 1e6, math.inf]),
    refuse=st.sampled_from([None, 0.0, 6.0]),
    t0=st.sampled_from([None, 0.0]),
)
def test_property_applied_within_limits_and_rate(reqs, max_rate, refuse, t0) -> None:
    lim = ActuatorLimits("voltage", "V", -12.0, 24.0, max_rate=max_rate, safe_value=0.0, refuse_beyond=refuse)
    e = SafetyEnvelope([lim], t0=t0)
    logging.getLogger("phystwin.hil.safety").disabled = True
    try:
        t = 0.0
        prev = (0.0, 0.0) if t0 is not None else None
        for dt, value in reqs:
            t += dt
            v = e.check(Command(t, "voltage", value))
            if v.applied is None:
                assert v.decision is Decision.REFUSED
                assert not math.isfinite(value) or (refuse is not None and not -12 - refuse <= value <= 24 + refuse)
                continue
            assert -12.0 <= v.applied <= 24.0
            if prev is not None and math.isfinite(max_rate):
                assert abs(v.applied - prev[1]) <= max_rate * (t - prev[0]) * (1 + 1e-12) + 1e-12
            prev = (t, v.applied)
    finally:
        logging.getLogger("phystwin.hil.safety").disabled = False
    assert sum(e.counters["voltage"].values()) == len(reqs)


# ---------------------------------------------------------------- watchdog


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_watchdog_expires_after_timeout_and_recovers() -> None:
    c = Clock()
    w = Watchdog(0.5, clock=c)
    assert not w.expired() and w.reason is None
    c.now += 0.4
    w.feed()
    c.now += 0.45
    assert not w.expired()  # 0.45 s since the last feed
    c.now += 0.1
    assert w.expired() and w.trips == 1
    assert "no accepted measurement for 0.55 s (timeout 0.5 s)" in (w.reason or "")
    c.now += 1.0
    assert w.expired() and w.trips == 1  # still the same trip
    w.feed()
    assert not w.expired() and w.reason is None  # recover_after = 1
    assert w.seconds_since_feed() == 0.0


def test_watchdog_trip_and_recover_after() -> None:
    c = Clock()
    w = Watchdog(0.5, clock=c, recover_after=3)
    w.trip("lost sync")
    assert w.expired() and w.reason == "lost sync" and w.trips == 1
    for _ in range(2):
        c.now += 0.1
        w.feed()
        assert w.expired()
    c.now += 0.1
    w.feed()
    assert not w.expired()
    # consecutive means within the timeout of each other
    w.trip("lost sync again")
    assert w.trips == 2
    c.now += 0.1
    w.feed()
    c.now += 0.4
    w.feed()  # 0.4 s gap: still consecutive
    c.now += 0.45
    w.feed()
    assert not w.expired()
    w.trip("x")
    c.now += 0.1
    w.feed()
    c.now += 0.1
    w.feed()
    c.now += 0.6  # gap longer than the timeout: the watchdog expires, the count restarts
    assert w.expired()
    w.feed()
    assert w.expired()


def test_watchdog_bad_arguments() -> None:
    with pytest.raises(ValueError, match="timeout"):
        Watchdog(0.0)
    with pytest.raises(ValueError, match="recover_after"):
        Watchdog(1.0, recover_after=0)
