"""Evaluation protocols: split invariants, resumable and mergeable runs, reports, metrics."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from emotionkd.cli import main
from emotionkd.config import DataConfig, resolve_config
from emotionkd.errors import ConfigError, DataFormatError
from emotionkd.evaluation import (
    EvaluationPlan,
    build_report,
    evaluate_checkpoint,
    evaluate_protocol,
    fold_windows,
    make_folds,
)
from emotionkd.metrics import aggregate, binary_metrics, wilcoxon_paired
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset

TINY = {"d_model": 8, "n_heads": 2, "head_dim": 4, "n_blocks": 2, "ff_dim": 8,
        "classifier_dim": 8}
TRAIN = {"epochs": 2, "batch_size": 16, "lr": 1e-3, "patience": 0}
FULL_BASELINES = ["deepconvnet", "eeg-features", "gsr-features", "shallowconvnet"]


def _cfg(**kw) -> EvaluationPlan:
    """A small evaluation plan; list values are given comma-separated."""
    opts = dict(protocol="loso", target="arousal", methods="emotionkd,none", window=2.0,
                step=2.0, **TRAIN, **TINY, feedback_warmup=0, val_fraction=0.3,
                quiz_fraction=0.3, baselines="none")
    opts.update(kw)
    opts = {k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in opts.items()}
    return EvaluationPlan(resolve_config("evaluate", opts))


@pytest.mark.parametrize("protocol, k", [("loso", 0), ("kfold", 3), ("subject-dependent", 2)])
def test_split_invariants(deap_store, protocol, k):
    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2), load_eeg=False)
    cfg = _cfg(protocol=protocol, k=k)
    folds = make_folds(cfg, st.subject, st.trial)
    keys = ds.trial_keys()
    tested = []
    for f in folds:
        fd = fold_windows(f, ds, cfg, fold_seed=f.index)
        train_side = np.concatenate([fd.train, fd.val, fd.quiz])
        assert len(fd.quiz) > 0 or protocol == "subject-dependent"  # 1 trial left there
        assert not set(fd.quiz) & set(fd.train)  # quiz from the training side, held out of it
        assert not set(keys[fd.quiz]) & set(keys[fd.train])  # whole trials
        assert not set(fd.val) & set(fd.train)  # validation ⊂ training side, not fitted on
        assert not set(train_side) & set(fd.test)
        assert not set(keys[train_side]) & set(keys[fd.test])  # no trial on both sides
        assert not set(keys[fd.val]) & set(keys[fd.quiz])
        if protocol != "subject-dependent":
            assert not set(ds.subjects[train_side]) & set(ds.subjects[fd.test])
        tested.extend(keys[fd.test].tolist())
    # every trial is tested exactly once over the folds
    assert sorted(set(tested)) == sorted(set(keys.tolist()))
    assert len(tested) == len(keys)


def test_metrics_match_hand_computation():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.4, 0.3, 0.2, 0.7, 0.1, 0.45])
    m = binary_metrics(y, p)
    # predictions: 1 1 0 0 0 1 0 0 -> TP 2, FN 1, FP 1, TN 4
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    f1_high = 2 * (2 / 3) * (2 / 3) / (4 / 3)
    f1_low = 2 * (4 / 5) * (4 / 5) / (8 / 5)
    assert m["f1_high"] == pytest.approx(f1_high)
    assert m["macro_f1"] == pytest.approx((f1_high + f1_low) / 2)
    # AUC: pairs (pos, neg) ranked correctly: 0.9 > all 5; 0.6 > 4 of 5; 0.4 > 3 of 5
    assert m["roc_auc"] == pytest.approx((5 + 4 + 3) / 15)
    assert m["majority_baseline"] == pytest.approx(5 / 8)
    assert math.isnan(binary_metrics(np.ones(3, int), np.ones(3) * 0.7)["roc_auc"])
    agg = aggregate([{"accuracy": 0.5}, {"accuracy": 0.7}], keys=["accuracy"])
    assert agg["accuracy"]["mean"] == pytest.approx(0.6)
    assert agg["accuracy"]["std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    w = wilcoxon_paired([0.6, 0.7, 0.8, 0.65, 0.75, 0.9], [0.5, 0.6, 0.6, 0.6, 0.7, 0.8])
    assert w["p_value"] == pytest.approx(0.03125) and w["mean_difference"] > 0
    assert "undefined" in wilcoxon_paired([0.5, 0.5], [0.5, 0.5])["note"]


def _comparable(results) -> dict:
    out = {}
    for target, t in results.targets.items():
        for label, m in t.models.items():
            out[(target, label)] = (m.folds, m.pooled, dict(m.per_fold))
    return out


@pytest.fixture(scope="module")
def full_run(deap_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    cfg = _cfg(baselines=FULL_BASELINES)
    res = evaluate_protocol(deap_store, cfg, out)
    return out, res


def test_full_run_reports(full_run):
    out, summary = full_run
    res = summary.to_dict()
    t = res["targets"]["arousal"]
    assert t["folds_done"] == 3
    assert set(t["models"]) == {"teacher", "student-emotionkd", "student-emotionkd+feedback",
                                "student-none", "baseline-deepconvnet", "baseline-eeg-features",
                                "baseline-gsr-features", "baseline-shallowconvnet"}
    single = len(t["single_class_folds"])
    for m in t["models"].values():
        assert m["folds"] + m["single_class_folds"] == 3 and not m["errors"]
        assert m["single_class_folds"] == single
        # synthetic data: every model is also scored against the latent truth
        assert m["latent"]["folds"] + m["latent"]["single_class_folds"] == 3
    pairs = {(c["a"], c["b"]) for c in t["comparisons"].values()}
    assert pairs == {("student-emotionkd+feedback", "student-none"),
                     ("student-emotionkd", "student-none"),
                     ("student-emotionkd+feedback", "student-emotionkd"),
                     ("teacher", "student-none"), ("teacher", "baseline-eeg-features"),
                     ("teacher", "baseline-shallowconvnet"),
                     ("student-none", "baseline-gsr-features")}
    for c in t["comparisons"].values():
        r = c["balanced_accuracy"]
        assert r["pairs"] == 3 - single and (r["ci_low"] <= r["mean_difference"] <= r["ci_high"]
                                             or r["pairs"] < 2)
    parsed = json.loads((out / "results.json").read_text())
    assert parsed == json.loads(json.dumps(res)) and parsed["protocol"] == "loso"
    assert type(summary).from_dict(parsed).to_dict() == parsed  # results.json reads back
    with open(out / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["model"] for r in rows} >= {"teacher", "student-none", "majority-class"}
    md = (out / "report.md").read_text()
    for needle in ("leave-one-subject-out", "transductive", "high = rating > 5",
                   "majority-class baseline", "Wilcoxon", "versions: emotionkd",
                   "Against the latent truth", "| baseline-eeg-features |", "95 % CI",
                   "### Effect sizes", "bal. acc. (pooled)"):
        assert needle in md
    fold0 = json.loads((out / "folds" / "arousal" / "seed-0" / "fold-000.json").read_text())
    assert fold0["models"]["student-emotionkd+feedback"]["feedback_steps"] > 0
    assert len(fold0["test_labels"]) == len(fold0["models"]["teacher"]["p_high"])


def test_interrupted_run_resumes_to_the_same_result(deap_store, full_run, tmp_path,
                                                    monkeypatch):
    import emotionkd.evaluation.protocol as ev

    out = tmp_path / "resumed"
    real = ev.run_fold
    calls = {"n": 0}

    def crashing(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # the job is killed during fold 2
        return real(*a, **kw)

    monkeypatch.setattr(ev, "run_fold", crashing)
    cfg = _cfg(baselines=FULL_BASELINES)
    with pytest.raises(KeyboardInterrupt):
        evaluate_protocol(deap_store, cfg, out)
    assert len(list((out / "folds" / "arousal").rglob("*.json"))) == 1
    monkeypatch.setattr(ev, "run_fold", real)
    with pytest.raises(ConfigError, match="--resume"):
        evaluate_protocol(deap_store, cfg, out)
    done = []
    evaluate_protocol(deap_store, cfg, out, resume=True, on_fold=lambda r: done.append(r))
    assert [r["fold"]["index"] for r in done] == [1, 2]  # fold 0 was not recomputed
    assert _comparable(build_report(out)) == _comparable(full_run[1])


def test_single_folds_merge_to_the_full_run(deap_store, full_run, tmp_path, capsys):
    out = tmp_path / "array"
    cfg = _cfg(baselines=FULL_BASELINES)
    for i in (2, 0, 1):  # like a job array, in any order
        evaluate_protocol(deap_store, cfg, out, fold=i)
    assert _comparable(build_report(out)) == _comparable(full_run[1])
    with pytest.raises(ConfigError, match="different configuration"):
        evaluate_protocol(deap_store, _cfg(), out, fold=0)
    try:
        main(["report", str(out)])
    except SystemExit as exc:
        assert not exc.code
    assert "student-none" in capsys.readouterr().out


def test_failed_model_is_recorded_and_run_goes_on(deap_store, tmp_path, monkeypatch):
    import emotionkd.distill.trainer as tr

    def broken(*a, **kw):
        raise RuntimeError("simulated failure")

    monkeypatch.setattr(tr.DistillTask, "__init__", broken)
    res = evaluate_protocol(deap_store, _cfg(), tmp_path / "r")
    m = res.targets["arousal"].models
    assert m["student-emotionkd+feedback"].folds == 0
    assert len(m["student-emotionkd+feedback"].errors) == 3
    assert m["student-none"].folds == 3
    assert "simulated failure" in (tmp_path / "r" / "report.md").read_text()


def test_evaluate_cli_and_checkpoint_mode(deap_store, tmp_path, capsys):
    cfgfile = tmp_path / "e.toml"
    cfgfile.write_text("[model]\nd_model = 8\nn_heads = 2\nhead_dim = 4\nn_blocks = 2\n"
                       "ff_dim = 8\nclassifier_dim = 8\n")
    out = tmp_path / "run"
    args = ["evaluate", "--data", str(deap_store), "--kfold", "3", "--target",
            "arousal,valence", "--methods", "kd,none", "--window", "2", "--step", "2",
            "--epochs", "1", "--batch-size", "16", "--out", str(out), "--config", str(cfgfile),
            "--save-models"]
    try:
        main(args)
    except SystemExit as exc:
        assert not exc.code
    text = capsys.readouterr().out
    assert "arousal: 3 of 3 fold runs" in text and "valence" in text
    models = sorted((out / "models" / "arousal" / "seed-0" / "fold-000").glob("*.pt"))
    assert {p.stem for p in models} == {"teacher", "student-kd", "student-none",
                                        "baseline-shallowconvnet"}
    # a saved fold model evaluated on its own held-out subject, and refused on training ones
    ck = str(out / "models" / "arousal" / "seed-0" / "fold-000" / "student-none.pt")
    from emotionkd.checkpoint import load_checkpoint

    d = load_checkpoint(ck)["data"]
    res = evaluate_checkpoint(ck, deap_store, d["test_subjects"])
    assert res["subjects"] == d["test_subjects"] and 0 <= res["overall"]["accuracy"] <= 1
    with pytest.raises(ConfigError, match="leaks"):
        evaluate_checkpoint(ck, deap_store, d["train_subjects"])
    assert evaluate_checkpoint(ck, deap_store, d["train_subjects"],
                               allow_train_subjects=True)["used_training_subjects"]
    for bad, msg in ((["evaluate", "--data", str(deap_store)], "choose a protocol"),
                     (["evaluate", "--data", str(deap_store), "--loso", "--kfold", "2"],
                      "choose one protocol"),
                     (["evaluate", "--data", str(deap_store), "--loso", "--methods", "crd"],
                      "unknown crd")):
        with pytest.raises(SystemExit) as exc:
            main(bad)
        assert exc.value.code == 1
        assert msg in capsys.readouterr().err


def test_runs_of_another_format_are_refused_in_one_line(tmp_path, capsys):
    run = tmp_path / "old"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"format": "emotionkd-run", "format_version": 2,
                                              "config": {"protocol": "loso"}}))
    with pytest.raises(DataFormatError, match="run format_version 2 is not read by emotionkd"):
        build_report(run)
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run)])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and len(err.strip().splitlines()) == 1
    assert "run the evaluation again" in err
