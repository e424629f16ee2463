"""eager eval's signal handling: catch SIGINT/SIGTERM, but keep what the user made ignored."""

import signal

from eager_local.evaluation.interrupts import stop_on_signals


def test_signals_are_caught_and_restored():
    before = signal.getsignal(signal.SIGTERM)
    with stop_on_signals() as req:
        assert signal.getsignal(signal.SIGTERM) not in (before, signal.SIG_IGN)
        signal.raise_signal(signal.SIGTERM)
        assert req.event.is_set() and req.exit_code == 143
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_signal_stays_ignored():
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stop_on_signals() as req:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            assert not req.event.is_set()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, old)
