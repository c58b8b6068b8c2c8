"""Locks and signals (emotionkd.locks): handlers are restored after a command."""

from __future__ import annotations

import os
import signal
import time

import pytest


def test_terminated_restores_signal_handlers():
    from emotionkd.locks import Terminated, terminate_on_signals

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated, match="terminated by SIGTERM"), terminate_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) == before
