"""Signal primitives (emotionkd.signals): the one GSR unit rule and the unit names, and the HCI
EEG conditioning."""

from __future__ import annotations

import numpy as np
import pytest

from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.signals import check_gsr_unit, gsr_to_microsiemens, infer_gsr_unit, to_microsiemens


def test_hci_conditioning_removes_common_mode_and_drift():
    from emotionkd.signals import condition_eeg

    fs = 128.0
    t = np.arange(int(20 * fs)) / fs
    rng = np.random.default_rng(0)
    brain = rng.standard_normal((4, len(t)))
    common = 30 * np.sin(2 * np.pi * 50 * t) + 50 * np.sin(2 * np.pi * 0.05 * t)
    raw = brain + common + 3000 + rng.normal(0, 100, (4, 1))
    out = condition_eeg(raw, fs)
    assert np.abs(out.mean(axis=0)).max() < 1e-9  # common average reference
    # the common-mode signal and the DC offsets are gone entirely
    np.testing.assert_allclose(out, condition_eeg(brain, fs), atol=1e-6)
    # per channel: out of band (a 0.3-Hz drift, 60-Hz hum) is removed, in band it is kept
    for f0, keep in ((0.3, False), (60.0, False), (10.0, True), (30.0, True)):
        x = np.zeros((4, len(t)))
        x[0] = np.sin(2 * np.pi * f0 * t)
        y = condition_eeg(x, fs)[0, 3 * 128:-3 * 128]  # away from the edges
        gain = y.std() / x[0].std() / 0.75  # CAR keeps 3/4 of a one-channel signal
        assert (gain > 0.9) if keep else (gain < 0.05), (f0, gain)


def test_gsr_unit_is_settled_by_the_values_and_the_declared_unit():
    def unit(x: float, declared: str | None = None, given: str = "auto") -> str:
        return to_microsiemens(np.full(10, x), given, "r", "--gsr-unit", declared)[1]

    assert unit(5.0) == "us" and unit(2e5) == "ohm" and unit(5e-6) == "s"
    assert unit(5000.0, "ns") == "ns" and unit(5000.0, "kohm") == "kohm"
    assert unit(5e-6, "us") == "s"  # a reader returned siemens for a µS channel
    assert unit(200.0, "kohm") == "kohm" and unit(200.0, "ns") == "ns"
    assert unit(5.0, None, "ohm") == "ohm"  # the caller's unit is used as given
    with pytest.raises(DataFormatError, match=r"nS \(.*\) or kOhm \(.*--gsr-unit"):
        unit(200.0)
    with pytest.raises(DataFormatError, match="not positive"):
        unit(-3.0)
    # beyond every unit's plausible range: µS below, Ohm above (as the readers always did)
    assert unit(0.01) == "us" and unit(3e7) == "ohm"
    assert "only in that unit (inferred; the file declares µS)" in \
        infer_gsr_unit(np.full(10, 5e-6), "r", declared="us")[1]


def test_unit_names_and_conversions():
    assert [check_gsr_unit(u) for u in ("µS", "kΩ", "Siemens", "ohms", "nS", "auto", "")] == \
        ["us", "kohm", "s", "ohm", "ns", "auto", "auto"]
    with pytest.raises(ConfigError, match="--gsr-unit must be one of auto, us, ohm, kohm, ns, s"):
        check_gsr_unit("mV", "--gsr-unit")
    np.testing.assert_allclose(gsr_to_microsiemens([4e-6, 250.0], "s", "r"), [4.0, 2.5e8])
    np.testing.assert_allclose(gsr_to_microsiemens([250.0], "kohm", "r"), [4.0])
    # a resistance with NaN gaps (an XDF stream's) is converted around them
    np.testing.assert_allclose(gsr_to_microsiemens([np.nan, 2.5e5], "ohm", "r"), [np.nan, 4.0])

