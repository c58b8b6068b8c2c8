"""The synthetic wristband recording (``synth wristband``): an E4 EDA.csv that predict reads."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_cli

from emotionkd.datasets.synthetic_wristband import START_UNIX, write_wristband
from emotionkd.errors import ConfigError, OutputExistsError
from emotionkd.recordings import read_recording


def test_wristband_file_is_an_e4_recording_of_the_asked_length(tmp_path):
    out = write_wristband(tmp_path / "EDA.csv", seconds=150, rate=4.0, seed=3)
    rec = read_recording(out)
    assert rec.fmt == "e4" and rec.fs == 4.0 and rec.start_time == START_UNIX
    assert len(rec.values) == 600 and np.all(rec.values > 0)
    assert 0.5 < np.median(rec.values) < 40  # skin conductance in µS
    latent = (tmp_path / "EDA.latent.csv").read_text().splitlines()
    assert latent[0] == "clip,start_s,stop_s,valence,arousal" and len(latent) == 1 + 3
    assert latent[-1].startswith("3,120,150,")  # the last clip ends with the recording
    again = write_wristband(tmp_path / "b" / "EDA.csv", seconds=150, rate=4.0, seed=3)
    assert again.read_bytes() == out.read_bytes()  # same seed, same file
    other = write_wristband(tmp_path / "c.csv", seconds=150, rate=4.0, seed=4)
    assert other.read_bytes() != out.read_bytes()
    with pytest.raises(OutputExistsError):
        write_wristband(out, seconds=150)


def test_wristband_arousal_drives_the_phasic_activity(tmp_path):
    """Clips of higher latent arousal have more skin-conductance change (what the student
    reads), so predictions on the file can be compared with NAME.latent.csv."""
    out = write_wristband(tmp_path / "EDA.csv", seconds=1200, rate=4.0, seed=0, gsr_cue=2.0)
    x = read_recording(out).values
    rows = [ln.split(",") for ln in (tmp_path / "EDA.latent.csv").read_text().splitlines()[1:]]
    arousal = np.array([float(r[4]) for r in rows])
    activity = np.array([np.abs(np.diff(x[k * 240:(k + 1) * 240])).sum()
                         for k in range(len(rows))])
    assert np.corrcoef(arousal, activity)[0, 1] > 0.3


@pytest.mark.parametrize("kw, match", [({"seconds": 4}, "--seconds"),
                                       ({"rate": 3.7}, "--rate 3.7"),
                                       ({"rate": 500}, "--rate")])
def test_wristband_refuses_impossible_settings(tmp_path, kw, match):
    with pytest.raises(ConfigError, match=match):
        write_wristband(tmp_path / "EDA.csv", **kw)
    assert list(tmp_path.iterdir()) == []


def test_synth_wristband_command_then_predict(tmp_path, capsys, subject_ckpt):
    out = tmp_path / "session" / "EDA.csv"  # its folder is created
    code, cap = run_cli(["synth", "wristband", "--out", str(out), "--seconds", "60"], capsys)
    assert code == 0, cap.err
    assert f"wrote {out}: 60 s" in cap.out and (out.parent / "EDA.latent.csv").exists()
    code, cap = run_cli(["predict", "--model", str(subject_ckpt), "--input", str(out)], capsys)
    assert code == 0, cap.err
