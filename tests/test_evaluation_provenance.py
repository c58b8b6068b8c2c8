"""Where a run came from (emotionkd.evaluation.provenance): run.json and report.md record the
store's content digest and preprocessing, the command line and the versions; folds made from
another store, preprocessing or configuration are refused with the setting named."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli, small_plan

import emotionkd.version as version
from emotionkd.errors import ConfigError
from emotionkd.evaluation import evaluate_protocol
from emotionkd.evaluation.provenance import (
    check_same_plan,
    command_line,
    first_difference,
    library_versions,
)
from emotionkd.store import open_store
from emotionkd.store.digest import content_digest

#: the smallest evaluation that trains: the student alone, one epoch, tiny models
FAST = ["--methods", "none", "--no-feedback", "--baselines", "none", "--epochs", "1",
        "--size", "tiny", "--window", "2", "--step", "2", "--batch-size", "16"]


def _plan(**options):
    return small_plan(epochs=1, methods="none", feedback=False, **options)


def test_a_run_refuses_a_fold_from_a_store_preprocessed_again(deap_raw, tmp_path, capsys,
                                                               monkeypatch):
    """The issue's scenario: preprocess, evaluate fold 0 into runs/mix, preprocess again with
    --baseline none --overwrite, evaluate fold 1 into runs/mix: refused, the setting named,
    nothing of fold 1 written."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data2").mkdir()
    code, cap = run_cli(["preprocess", "deap", "--raw", str(deap_raw), "--out",
                         "data2/deap.h5"], capsys)
    assert code == 0, cap.err
    evaluate = ["evaluate", "--data", "data2/deap.h5", "--loso", *FAST, "--out", "runs/mix"]
    code, cap = run_cli([*evaluate, "--fold", "0"], capsys)
    assert code == 0, cap.err
    run = json.loads((tmp_path / "runs/mix/run.json").read_text())
    assert run["preprocessing"]["baseline"] == "subtract"
    assert run["store_digest"] == content_digest("data2/deap.h5").as_dict()
    assert run["command"] == "emotionkd " + " ".join([*evaluate, "--fold", "0"])
    code, cap = run_cli(["preprocess", "deap", "--raw", str(deap_raw), "--out", "data2/deap.h5",
                         "--baseline", "none", "--overwrite"], capsys)
    assert code == 0, cap.err
    code, cap = run_cli([*evaluate, "--fold", "1"], capsys)
    assert code == 1
    assert cap.err.strip() == (
        "error: runs/mix/run.json: this run was made from a store preprocessed with "
        "baseline=subtract; data2/deap.h5 has baseline=none; use a new --out (or the run's "
        "store)")
    folds = sorted(p.name for p in (tmp_path / "runs/mix/folds").rglob("fold-*.json"))
    assert folds == ["fold-000.json"]


def test_same_preprocessing_other_data_is_refused_by_the_digest(tmp_path):
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.preprocess import preprocess_deap

    store = tmp_path / "d.h5"
    raw = tmp_path / "raw"
    write_deap(raw, n_subjects=3, n_trials=4, seconds=12.0, seed=7)
    preprocess_deap(raw, store)
    out = tmp_path / "run"
    evaluate_protocol(store, _plan(), out, fold=0)
    write_deap(raw, n_subjects=3, n_trials=4, seconds=12.0, seed=8, overwrite=True)
    preprocess_deap(raw, store, overwrite=True)
    with pytest.raises(ConfigError, match=r"run.json: this run was made from a store with "
                                          r"content digest [0-9a-f]{12}; .*d.h5 has digest "
                                          r"[0-9a-f]{12}: its data differ; use a new --out"):
        evaluate_protocol(store, _plan(), out, fold=1)


def test_another_configuration_names_the_setting(deap_store, tmp_path):
    out = tmp_path / "run"
    evaluate_protocol(deap_store, _plan(), out, fold=0)
    with pytest.raises(ConfigError, match=r"holds a run with a different configuration: "
                                          r"\[train\] epochs is 1 in the run but 2 here "
                                          r"\(--epochs\); use the run's options"):
        evaluate_protocol(deap_store, small_plan(epochs=2, methods="none", feedback=False),
                          out, fold=1)
    with pytest.raises(ConfigError, match=r"\[data\] window is 2.0 in the run but 4.0 here"):
        evaluate_protocol(deap_store, _plan(window=4.0, step=4.0), out, fold=1)
    with pytest.raises(ConfigError, match=r"\[evaluate\] subjects is not set in the run but "
                                          r"1-2 here \(--subjects\)"):
        evaluate_protocol(deap_store, _plan(subjects="1-2"), out, fold=1)
    evaluate_protocol(deap_store, _plan(), out, fold=1)  # the same: accepted
    old = json.loads((out / "run.json").read_text())
    entries = {k: old[k] for k in ("config", "save_models")}
    with pytest.raises(ConfigError, match="other folds: seed 0 has 3 folds in the run but 2 "
                                          "here"):
        check_same_plan(out, old, entries, {"0": old["folds"]["0"][:2]})
    moved = json.loads(json.dumps(old["folds"]))
    moved["0"][1]["test_subjects"] = [3]
    with pytest.raises(ConfigError, match=r"seed 0 fold 1 test_subjects.0 is 2 in the run but "
                                          r"3 here"):
        check_same_plan(out, old, entries, moved)
    with pytest.raises(ConfigError, match="save_models False but --save-models is given"):
        check_same_plan(out, old, {**entries, "save_models": True}, old["folds"])


def test_report_records_where_the_run_came_from(deap_store, tmp_path):
    out = tmp_path / "run"
    evaluate_protocol(deap_store, _plan(), out, fold=0, command="emotionkd evaluate x")
    evaluate_protocol(deap_store, _plan(), out, fold=1, command="emotionkd evaluate y")
    res = json.loads((out / "results.json").read_text())
    dig = content_digest(deap_store)
    prov = res["provenance"]
    assert prov["store_digest"]["value"] == dig.value and prov["store_source"] == "deap"
    assert prov["preprocessing"] == open_store(deap_store).preprocessing
    assert prov["command"] == "emotionkd evaluate x"
    assert prov["fold_commands"] == ["emotionkd evaluate y"]
    assert {"emotionkd", "python", "torch", "numpy", "scipy", "scikit-learn", "h5py"} <= \
        set(res["versions"])
    report = (out / "report.md").read_text()
    assert f"content digest sha256-content-v1 `{dig.value[:16]}`" in report
    assert "* preprocessing: reader=deap-dat, baseline=subtract" in report
    assert "* command: `emotionkd evaluate x`" in report
    assert "* fold job: `emotionkd evaluate y`" in report
    assert "h5py " in report and "scikit-learn " in report


def test_versions_with_and_without_git(monkeypatch, tmp_path):
    commit = version.source_commit()
    if commit is not None:  # run from a checkout: the commit is recorded
        assert len(commit.split("+")[0]) == 40
        assert library_versions()["git_commit"] == commit
    monkeypatch.setenv("PATH", str(tmp_path))  # git absent: no commit, no failure
    assert version.source_commit() is None
    assert "git_commit" not in library_versions()
    monkeypatch.setattr(version, "__file__", str(tmp_path / "emotionkd" / "version.py"))
    assert version.source_commit() is None  # not a checkout


def test_command_line_and_first_difference():
    assert command_line(["evaluate", "--out", "my runs/a"]) == \
        "emotionkd evaluate --out 'my runs/a'"
    assert first_difference({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 3]}) == (("b", "1"), 2, 3)
    assert first_difference({"a": [1]}, {"a": [1, 2]}) == (("a", "length"), 1, 2)
    assert first_difference({"a": 1}, {"a": 1, "c": 0}) == (("c",), None, 0)
    assert first_difference({"a": {"b": 1}}, {"a": {"b": 1}}) is None
