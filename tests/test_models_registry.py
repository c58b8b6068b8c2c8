"""The model registry (emotionkd.models.registry): what models need, without torch; the
listing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emotionkd.errors import ConfigError
from emotionkd.models import (
    build_model,
    count_parameters,
    default_config,
    describe_models,
    model_names,
    model_spec,
)


def test_registry_declares_what_models_need_without_torch():
    code = ("import sys\n"
            "from emotionkd.models import registry as r\n"
            "import emotionkd.config, emotionkd.cli\n"
            "print('torch' in sys.modules, r.names_where(role='teacher'), r.distilled_student(),"
            " r.names_where(need='eeg', kind='classical'), r.names_where(baseline=True))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.split("\n")[0] == (
        "False ['emotionnet-teacher', 'concat'] emotionnet-student ['eeg-features', 'eeg-de'] "
        "['concat', 'deepconvnet', 'shallowconvnet', 'eeg-features', 'eeg-de', 'gsr-features', "
        "'gsr-neurokit']")
    from emotionkd.models.registry import build_model, config_for, model_spec

    assert model_spec("gsr-features") | {"description": ""} == {
        "role": "baseline", "inputs": "gsr", "needs": ["gsr"], "kind": "classical",
        "sized": False, "description": ""}
    assert config_for("deepconvnet", 128, 4, 0, {"d_model": 8})["kernel"] == 0  # not sized
    assert config_for("concat", 128, 4, 28, {"d_model": 8})["d_model"] == 8
    with pytest.raises(ConfigError, match="classical baseline, not a neural network"):
        build_model("eeg-features", {})


#: a tiny EmotionNet for tests that do not need the full size
TINY = {"d_model": 16, "n_heads": 2, "head_dim": 8, "n_blocks": 3, "ff_dim": 16,
        "classifier_dim": 16}


def test_registry_listing():
    assert model_names() == ["emotionnet-teacher", "emotionnet-student", "concat",
                             "deepconvnet", "shallowconvnet"]
    assert {n: (model_spec(n)["role"], model_spec(n)["inputs"]) for n in model_names()} == {
        "emotionnet-teacher": ("teacher", "eeg+gsr"), "emotionnet-student": ("student", "gsr"),
        "concat": ("teacher", "eeg+gsr"), "deepconvnet": ("student", "gsr"),
        "shallowconvnet": ("baseline", "eeg+gsr")}
    rows = describe_models(64, 2, 4, overrides=TINY)
    assert [r["name"] for r in rows] == model_names()
    assert all(r["parameters"] >= r["trainable"] > 0 for r in rows)
    s = build_model("emotionnet-student", default_config("emotionnet-student", 64, 2, 4, TINY))
    assert rows[1]["parameters"] == count_parameters(s)
    json.dumps(rows)
