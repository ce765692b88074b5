"""Error kinds and the stop hold (``streamdeblur.errors``)."""

from __future__ import annotations

import signal

import pytest

from streamdeblur.errors import stops_held


def test_a_stop_inside_a_held_block_is_acted_on_once_the_block_is_done(capfd):
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    steps = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with stops_held("waiting for the note"):
                signal.raise_signal(signal.SIGINT)  # the real signal, between the two steps
                steps.append("published")
                signal.raise_signal(signal.SIGINT)  # a second one is the same stop
                steps.append("noted")
        assert steps == ["published", "noted"]
        assert capfd.readouterr().err == "waiting for the note\n"
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler there before
        with stops_held():
            steps.append("no stop")  # nothing held: nothing raised
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's: ignored, inside the block too
        with stops_held():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, before)
