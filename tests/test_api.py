"""The Python API (emotionkd.api): lazy names, light import, predict_array and MNE Raw,
the documented example and evaluating one checkpoint."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import NK, run_page_code

from emotionkd.errors import ConfigError, DataFormatError


def test_api_names_are_lazy_and_import_stays_light():
    code = (
        "import sys, emotionkd\n"
        "light = not any(m in sys.modules for m in ('torch', 'numpy', 'h5py'))\n"
        "names = [n for n in ('read_recording', 'from_mne_raw', 'load_predictor', 'Predictor',"
        " 'train_teacher', 'distill_student', 'evaluate') if n in dir(emotionkd)]\n"
        "f = emotionkd.read_recording\n"
        "still = 'torch' not in sys.modules\n"
        "import emotionkd.distill.losses\n"
        "print(light, still, len(names), callable(emotionkd.distill_student), "
        "emotionkd.Predictor.__name__)\n"
        "try:\n    emotionkd.nothing\nexcept AttributeError as e:\n    print(e)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.splitlines()[0] == "True True 7 True Predictor"
    assert "has no attribute 'nothing'" in res.stdout


def test_predict_array_and_mne_raw_match_a_recording_file(subject_ckpt, tmp_path):
    import mne

    import emotionkd as ek

    pred = ek.load_predictor(subject_ckpt)
    x = np.loadtxt(NK, delimiter=",", skiprows=1, usecols=[1])
    from_file = pred.predict_recording(ek.read_recording(NK, fs=100))
    from_array = pred.predict_array(x, 100)
    np.testing.assert_allclose(from_array.p_high, from_file.p_high, atol=1e-7)
    assert from_array.usable.all() and len(from_array.start_s) == 37
    raw = mne.io.RawArray(x[None, :] * 1e3, mne.create_info(["ECG"], 100.0, ["misc"]),
                          verbose="error")
    raw.add_channels([mne.io.RawArray(x[None, :], mne.create_info(["EDA"], 100.0, ["misc"]),
                                      verbose="error")])
    rec = ek.from_mne_raw(raw)
    assert rec.channel == "EDA" and rec.fmt == "mne"
    np.testing.assert_allclose(pred.predict_recording(rec).p_high, from_file.p_high, atol=1e-7)
    with pytest.raises(DataFormatError, match="no channel 'GSR'"):
        ek.read_recording(raw, channel="GSR")
    with pytest.raises(ConfigError, match="unknown option 'epoch'; known: .*epochs"):
        ek.train_teacher("missing.h5", epoch=1)


def test_api_doc_example_runs(tmp_path):
    code, res = run_page_code("api.md", tmp_path)
    assert "predict_array" in code and "from_mne_raw" in code
    assert res.returncode == 0, res.stderr
    assert "30 windows; p(high arousal)" in res.stdout
    assert "MNE Raw gives the same: True" in res.stdout


def test_api_evaluate_one_checkpoint(subject_ckpt, deap_store):
    import emotionkd as ek

    res = ek.evaluate(deap_store, model=subject_ckpt, subjects=[3])
    assert res["subjects"] == [3] and 0 <= res["overall"]["balanced_accuracy"] <= 1
    with pytest.raises(ConfigError, match="pass out=RUN_FOLDER"):
        ek.evaluate(deap_store)
