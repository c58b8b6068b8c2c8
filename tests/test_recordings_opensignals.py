"""OpenSignals text exports of PLUX devices (emotionkd.recordings.opensignals over the tables
of emotionkd.recordings.plux): channels by sensor type and label, multi-device files, one test
per PLUX device family against a hand computation of its transfer function, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import MADE, NK
from conftest import run_cli as _run

from emotionkd.errors import DataFormatError
from emotionkd.recordings import read_recording


def test_opensignals_bitalino_recording(subject_ckpt, capsys):
    """Self-made file in OpenSignals' published layout (tests/data/made/README.md): the
    NeuroKit recording's EDA as the 10-bit counts a BITalino (r)evolution streams on A3."""
    path = MADE / "opensignals_bitalino_eda.txt"
    rec = read_recording(path)
    assert (rec.fmt, rec.fs, rec.channel, rec.unit, len(rec.values)) == \
        ("opensignals", 100.0, "A3", "adc", 4000)
    nk = np.loadtxt(NK, delimiter=",", skiprows=1, usecols=[1], max_rows=4000)
    # one 10-bit step is 3.3/1024/0.132 = 0.0244 µS: rounding leaves at most half of it
    assert np.max(np.abs(rec.values - nk)) <= 0.0123
    assert "ADC/2^10·3.3 V/0.132" in rec.notes[0]
    np.testing.assert_array_equal(read_recording(path, channel="eda").values, rec.values)
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(path)], capsys)
    assert code == 0, cap.err
    assert "10 windows of 4 s from 40 s of opensignals 'A3' (adc → µS, 100 → 128 Hz)" in cap.out


def _opensignals(path: Path, devices: list[dict], rows: np.ndarray,
                 magic: str = "# OpenSignals Text File Format") -> Path:
    """Write ``rows`` under an OpenSignals header of ``devices`` (each with its "mac"), in the
    published layout: magic line, one-line JSON header, end line, tab-separated rows ending in
    a tab."""
    header = {d.pop("mac"): d for d in devices}
    lines = [magic, "# " + json.dumps(header), "# EndOfHeader"]
    lines += ["\t".join(str(int(v)) if float(v).is_integer() else str(v) for v in r) + "\t"
              for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_opensignals_devices_channels_and_refusals(tmp_path):
    n = 1000
    adc = np.full(n, 26214)  # 16 bits: 26214/65536·3 V/0.12 = 10.0 µS
    plux = {"mac": "00:07:80:4D:2E:76", "device": "biosignalsplux", "sampling rate": 1000,
            "column": ["nSeq", "DI", "CH1", "CH2"], "label": ["CH1", "CH2"],
            "sensor": ["ECG", "EDA"], "resolution": [16, 1, 16, 16]}
    rows = np.column_stack([np.arange(n) % 16, np.zeros(n), np.full(n, 32768), adc])
    rec = read_recording(_opensignals(tmp_path / "plux.txt", [dict(plux)], rows))
    assert rec.channel == "CH2" and rec.fs == 1000
    np.testing.assert_allclose(rec.values, 26214 / 65536 * 3 / 0.12)
    # two devices in one file: the second one's columns follow the first one's
    bit = {"mac": "98:D3:41:FD:4E:E8", "device": "bitalino_rev", "sampling rate": 1000,
           "column": ["nSeq", "I1", "I2", "O1", "O2", "A1"], "label": ["A1"],
           "sensor": ["ECG"], "resolution": [4, 1, 1, 1, 1, 10]}
    both = np.column_stack([rows, np.arange(n) % 16, np.ones((n, 4)), np.full(n, 512)])
    rec = read_recording(_opensignals(tmp_path / "two.txt", [dict(plux), dict(bit)], both))
    assert rec.channel == "CH2"
    np.testing.assert_allclose(rec.values, 26214 / 65536 * 3 / 0.12)
    # a channel whose sensor type was not set: refused with the option to pass
    raw_only = {**bit, "sensor": ["RAW"]}
    p = _opensignals(tmp_path / "raw.txt", [dict(raw_only)], both[:, 4:])
    with pytest.raises(DataFormatError, match=r"no channel has sensor type or label EDA "
                                              r"\(channels: A1 \(RAW\)\); pass --channel LABEL"):
        read_recording(p)
    rec = read_recording(p, channel="A1")
    np.testing.assert_allclose(rec.values, 512 / 1024 * 3.3 / 0.132)
    # an unknown device, and values that are not ADC counts
    other = {**plux, "device": "muscleban"}
    with pytest.raises(DataFormatError, match="no EDA transfer function known for sensor 'EDA' "
                                              "of device 'muscleban'.*pass --unit us"):
        read_recording(_opensignals(tmp_path / "mb.txt", [dict(other)], rows))
    floats = rows.astype(float)
    floats[:, 3] = 5.25
    p = _opensignals(tmp_path / "conv.txt", [dict(plux)], floats)
    with pytest.raises(DataFormatError, match="not raw 16-bit ADC counts.*pass --unit us"):
        read_recording(p)
    np.testing.assert_allclose(read_recording(p, unit="us").values, 5.25)


# One test per PLUX device family, each a file in the published OpenSignals layout, checked
# against a hand computation of the family's transfer function EDA(µS) = ADC/2^n · VCC / k
# (docs/deployment.md, emotionkd/recordings/plux.py): BITalino VCC 3.3 V, k 0.132; PLUX hubs
# 3 V, 0.12.
_COUNTS10 = np.array([0, 128, 256, 512, 640, 1023] * 200)  # 10-bit counts, 12 s at 100 Hz


def test_opensignals_bitalino_revolution_edabitrev(subject_ckpt, tmp_path, capsys):
    """OpenSignals (r)evolution's current layout for a BITalino (r)evolution board: device
    bitalino_rev, sensor strings ECGBIT and EDABITREV, a resolution per column."""
    n = len(_COUNTS10)
    dev = {"mac": "84:BA:20:5E:FF:7F", "position": 0, "device": "bitalino_rev",
           "device name": "84:BA:20:5E:FF:7F", "sampling rate": 100,
           "resolution": [4, 1, 1, 1, 1, 10, 10], "firmware version": 1282, "mode": 0,
           "channels": [2, 3], "sensor": ["ECGBIT", "EDABITREV"], "label": ["A2", "A3"],
           "column": ["nSeq", "I1", "I2", "O1", "O2", "A2", "A3"], "convertedValues": 0,
           "special": [{}, {}], "digital IO": [0, 0, 1, 1]}
    rows = np.column_stack([np.arange(n) % 16, np.zeros((n, 4)), np.full(n, 511), _COUNTS10])
    path = _opensignals(tmp_path / "rev.txt", [dev], rows,
                        magic="# OpenSignals Text File Format. Version 1")
    rec = read_recording(path)
    assert (rec.channel, rec.fs, rec.unit) == ("A3", 100.0, "adc")
    # 512 of 1024 counts: 0.5 · 3.3 V / 0.132 = 12.5 µS; 1023: 24.9756 µS
    assert rec.values[3] == pytest.approx(12.5) and rec.values[5] == pytest.approx(24.97559, 1e-5)
    np.testing.assert_allclose(rec.values, _COUNTS10 / 1024 * 3.3 / 0.132)
    assert "BITalino (r)evolution EDA transfer function" in rec.notes[0]
    assert "chosen by sensor type" in rec.notes[0]
    # the ECG channel, if --channel insists: converted as EDA, and the note says so
    ecg = read_recording(path, channel="A2")
    np.testing.assert_allclose(ecg.values, 511 / 1024 * 3.3 / 0.132)
    assert "its sensor type is ECGBIT, converted as EDA because --channel chose it" in \
        ecg.notes[0]
    code, cap = _run(["predict", "--model", str(subject_ckpt), "--input", str(path)], capsys)
    assert code == 0, cap.err


def test_opensignals_bitalino_older_header_6bit_channel(tmp_path):
    """Older OpenSignals: device "bitalino" (also (r)evolution boards) and the generic sensor
    string EDA, here on A5, one of BITalino's 6-bit channels."""
    counts = np.array([0, 8, 16, 32, 48, 63] * 40)
    n = len(counts)
    dev = {"mac": "20:16:02:26:60:88", "device": "bitalino", "sampling rate": 1000,
           "column": ["nSeq", "I1", "I2", "O1", "O2", "A1", "A5"], "label": ["A1", "A5"],
           "sensor": ["RAW", "EDA"], "resolution": [4, 1, 1, 1, 1, 10, 6],
           "firmware version": "5.1", "channels": [1, 5]}
    rows = np.column_stack([np.arange(n) % 16, np.ones((n, 4)), np.full(n, 700), counts])
    rec = read_recording(_opensignals(tmp_path / "old.txt", [dict(dev)], rows))
    assert rec.channel == "A5"
    # 32 of 64 counts: 0.5 · 3.3 / 0.132 = 12.5 µS
    assert rec.values[3] == pytest.approx(12.5)
    np.testing.assert_allclose(rec.values, counts / 64 * 3.3 / 0.132)
    assert "ADC/2^6·3.3 V/0.132" in rec.notes[0] and "by device family (bitalino)" in rec.notes[0]
    assert "the original board too" in rec.notes[0]
    # a RAW channel chosen with --channel: the family's function, for its 10 bits
    rec = read_recording(_opensignals(tmp_path / "old.txt", [dict(dev)], rows), channel="A1")
    np.testing.assert_allclose(rec.values, 700 / 1024 * 3.3 / 0.132)


def test_opensignals_biosignalsplux_hub_written_as_channeller(tmp_path):
    """A biosignalsplux hub as OpenSignals writes it (PLUX's file specification): device
    "channeller", PORTn_CHNm columns after nSeq and DI, one resolution per analog channel."""
    counts = np.array([0, 8192, 26214, 32768, 65535] * 60)
    n = len(counts)
    dev = {"mac": "00:07:80:79:6F:DB", "sensor": ["ECG", "EDA"],
           "device name": "00:07:80:79:6F:DB",
           "column": ["nSeq", "DI", "PORT1_CHN1", "PORT2_CHN1"], "sync interval": 2,
           "channels": [1, 2], "convertedValues": 0, "mode": 0, "digital IO": [0, 1],
           "firmware version": 773, "device": "channeller", "position": 0,
           "sampling rate": 1000, "label": ["PORT1_CHN1", "PORT2_CHN1"], "resolution": [16, 16]}
    rows = np.column_stack([np.arange(n) % 16, np.zeros(n), np.full(n, 32768), counts])
    rec = read_recording(_opensignals(tmp_path / "hub.txt", [dev], rows))
    assert (rec.channel, rec.fs) == ("PORT2_CHN1", 1000.0)
    # 32768 of 65536 counts: 0.5 · 3 V / 0.12 = 12.5 µS
    assert rec.values[3] == pytest.approx(12.5)
    np.testing.assert_allclose(rec.values, counts / 65536 * 3.0 / 0.12)
    assert "biosignalsplux EDA transfer function" in rec.notes[0]
    assert "by device family (channeller)" in rec.notes[0]


def test_opensignals_bioplux_old_header_without_columns(tmp_path):
    """An old bioplux export: one resolution for every channel and no column list (the data
    rows are nSeq, then the channels)."""
    counts = np.array([0, 1024, 2048, 4095] * 50)
    n = len(counts)
    dev = {"mac": "00:07:80:79:6F:9D", "sensor": ["EDA"], "device name": "00:07:80:79:6F:9D",
           "label": ["CH1"], "channels": [1], "device": "bioplux", "sampling rate": 1000,
           "resolution": 12, "firmware version": 514}
    rows = np.column_stack([np.arange(n) % 128, counts])
    rec = read_recording(_opensignals(tmp_path / "bioplux.txt", [dev], rows))
    assert rec.channel == "CH1"
    # 2048 of 4096 counts: 0.5 · 3 V / 0.12 = 12.5 µS
    assert rec.values[2] == pytest.approx(12.5)
    np.testing.assert_allclose(rec.values, counts / 4096 * 3.0 / 0.12)


@pytest.mark.parametrize("device, vcc, k", [
    ("bitalino", 3.3, 0.132), ("bitalino_rev", 3.3, 0.132), ("bitalino_riot", 3.3, 0.132),
    ("biosignalsplux", 3.0, 0.12), ("bioplux", 3.0, 0.12), ("bioplux_exp", 3.0, 0.12),
    ("channeller", 3.0, 0.12), ("swifter", 3.0, 0.12), ("rachimeter", 3.0, 0.12),
    ("ddme_openbanplux", 3.0, 0.12)])
def test_opensignals_every_device_name_of_plux(tmp_path, device, vcc, k):
    """Every ``device`` name PLUX's own conversion code knows, with a generic EDA channel."""
    dev = {"mac": "00:07:80:00:00:01", "device": device, "sampling rate": 100,
           "column": ["nSeq", "A1"], "label": ["A1"], "sensor": ["EDA"], "resolution": [4, 10]}
    rows = np.column_stack([np.arange(300) % 16, np.full(300, 300)])
    rec = read_recording(_opensignals(tmp_path / "d.txt", [dev], rows))
    np.testing.assert_allclose(rec.values, 300 / 1024 * vcc / k)


def test_opensignals_refusals_without_a_known_conversion(tmp_path):
    base = {"mac": "00:07:80:00:00:02", "sampling rate": 100, "column": ["nSeq", "A1"],
            "label": ["A1"], "resolution": [4, 10]}
    rows = np.column_stack([np.arange(300) % 16, np.full(300, 300)])
    # muscleBAN carries no EDA sensor; an EDA sensor string we have no document for
    for dev, what in (({"device": "muscleban", "sensor": ["EDA"]}, "sensor 'EDA' of device "
                       "'muscleban'"),
                      ({"device": "bitalino_rev", "sensor": ["EDAXYZ"]}, "sensor 'EDAXYZ'")):
        p = _opensignals(tmp_path / "r.txt", [{**base, **dev}], rows)
        with pytest.raises(DataFormatError, match=f"no EDA transfer function known for {what}"
                                                  r".*; convert the channel to µS and pass "
                                                  r"--unit us$"):
            read_recording(p)
        np.testing.assert_allclose(read_recording(p, unit="us").values, 300.0)
    # a resolution list that fits neither the columns nor the channels
    p = _opensignals(tmp_path / "res.txt", [{**base, "device": "bitalino_rev", "sensor": ["EDA"],
                                             "resolution": [4, 1, 10]}], rows)
    with pytest.raises(DataFormatError, match="no ADC resolution for channel A1.*--unit us"):
        read_recording(p)


def test_opensignals_converted_values_are_microsiemens(tmp_path):
    """"convertedValues": 1: OpenSignals wrote physical units (µS for EDA), not counts."""
    dev = {"mac": "00:07:80:00:00:03", "device": "biosignalsplux", "sampling rate": 100,
           "column": ["nSeq", "DI", "CH1"], "label": ["CH1"], "sensor": ["EDA"],
           "resolution": [16], "convertedValues": 1}
    us = 4.0 + 0.5 * np.sin(np.arange(400) / 20)
    rows = np.column_stack([np.arange(400) % 16, np.zeros(400), us])
    rec = read_recording(_opensignals(tmp_path / "conv.txt", [dev], rows))
    np.testing.assert_allclose(rec.values, us, rtol=1e-12)
    assert rec.unit == "us" and "convertedValues" in rec.notes[0]
