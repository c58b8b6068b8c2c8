"""Evaluation runs (emotionkd.evaluation.protocol): reports, resuming, merging folds and
seeds, failed models, saved baselines, strict normalisation, a missing optional package refused
before any work."""

from __future__ import annotations

import csv
import json
from typing import Any

import numpy as np
import pytest
from conftest import small_plan

from emotionkd.cli import main
from emotionkd.config import DataConfig
from emotionkd.errors import ConfigError
from emotionkd.evaluation import EvaluationPlan, build_report, evaluate_protocol
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset


def _one_epoch(**options: Any) -> EvaluationPlan:
    """:func:`small_plan` trained one epoch, with the GSR-features baseline unless told."""
    return small_plan(**{"epochs": 1, "baselines": "gsr-features", **options})


def test_evaluate_saves_every_baseline_with_save_models(deap_store, tmp_path):
    """--save-models keeps each yardstick of a fold: the deep baseline as a checkpoint in the
    role of its inputs (EEG + GSR: the teacher's), the regressions as JSON."""
    from emotionkd.checkpoint import load_checkpoint
    from emotionkd.config import resolve_config
    from emotionkd.evaluation import EvaluationPlan, evaluate_protocol

    cfg = resolve_config("evaluate", dict(
        protocol="kfold", k=2, target="arousal", methods="none", feedback=False,
        baselines="shallowconvnet,gsr-features", window=2.0, step=2.0, epochs=1,
        batch_size=16, lr=1e-3, size="tiny", seeds="0"))
    res = evaluate_protocol(deap_store, EvaluationPlan(cfg, save_models=True), tmp_path / "run")
    fold = next((tmp_path / "run" / "folds").rglob("fold-*.json"))
    models = json.loads(fold.read_text())["models"]
    assert all("error" not in m for m in models.values()), models
    saved = next((tmp_path / "run" / "models").rglob("baseline-shallowconvnet.pt"))
    ck = load_checkpoint(saved)
    assert (ck["role"], ck["model"]) == ("teacher", "shallowconvnet")
    assert next((tmp_path / "run" / "models").rglob("baseline-gsr-features.json")).stat().st_size
    assert "baseline-shallowconvnet" in res.targets["arousal"].models
    assert ck["config"]["evaluate"]["baselines"] == "shallowconvnet,gsr-features"






def _folds(out):
    return [json.loads(p.read_text()) for p in sorted((out / "folds").rglob("fold-*.json"))]


def test_seeds_in_one_run_merge_like_separate_runs(deap_store, tmp_path):
    cfg = dict(methods=["none"], baselines=["gsr-features"], protocol="kfold", k=3)
    both = evaluate_protocol(deap_store, _one_epoch(seeds=[0, 1], **cfg), tmp_path / "both")
    alone = {s: evaluate_protocol(deap_store, _one_epoch(seeds=[s], **cfg), tmp_path / f"s{s}")
             for s in (0, 1)}
    f_both = {(f["seed"], f["fold"]["index"]): f for f in _folds(tmp_path / "both")}
    for s in (0, 1):
        for f in _folds(tmp_path / f"s{s}"):
            other = f_both[(s, f["fold"]["index"])]
            assert other["fold"] == f["fold"]  # the folds are redrawn per seed, identically
            for label, m in f["models"].items():
                assert other["models"][label]["p_high"] == m["p_high"]
        t_alone = alone[s].targets["arousal"].models["student-none"]
        t_both = both.targets["arousal"].models["student-none"]
        assert t_both.per_seed[str(s)]["balanced_accuracy"] == pytest.approx(
            t_alone.per_seed[str(s)]["balanced_accuracy"])
    # k-fold folds differ between the seeds
    assert _folds(tmp_path / "s0")[0]["fold"] != _folds(tmp_path / "s1")[0]["fold"] or \
        _folds(tmp_path / "s0")[1]["fold"] != _folds(tmp_path / "s1")[1]["fold"]
    # one job of a cluster array: a (fold, seed) pair into the run folder, then merge
    out = tmp_path / "array"
    c = _one_epoch(seeds=[0, 1], **cfg)
    for s in (1, 0):
        for i in (2, 0, 1):
            evaluate_protocol(deap_store, c, out, fold=i, only_seed=s)
    merged = build_report(out).targets["arousal"].models["student-none"]
    assert merged.per_fold == both.targets["arousal"].models["student-none"].per_fold


def test_strict_normalisation_uses_training_trials_only(deap_store, monkeypatch, tmp_path):
    st = open_store(deap_store)
    ds = WindowDataset(st, DataConfig(window=2, step=2, norm="none"))
    keys = np.unique(ds.trial_keys())
    chosen = keys[::2]
    view = ds.with_norm("train", norm_trials=chosen)
    # by hand: pool the stimulus samples of the chosen trials
    gsr = []
    for k in chosen:
        row = np.flatnonzero((st.subject * 100000 + st.trial) == k)[0]
        g, _ = _store_gsr(st, row)
        gsr.append(g)
    g = np.concatenate(gsr).astype(np.float64)
    assert view._stats.gsr_mean[0, 0] == pytest.approx(g.mean(), rel=1e-6)
    assert view._stats.gsr_std[0, 0] == pytest.approx(g.std(), rel=1e-6)
    # in a subject-dependent run no test trial's signal enters the statistics
    import emotionkd.windows as w

    seen = []
    real = w.WindowDataset.with_norm

    def spy(self, norm, norm_subjects=None, norm_trials=None):
        seen.append(set(np.asarray(norm_trials).tolist()))
        return real(self, norm, norm_subjects, norm_trials)

    monkeypatch.setattr(w.WindowDataset, "with_norm", spy)
    cfg = _one_epoch(protocol="subject-dependent", k=2, methods=["none"], baselines="none",
               norm="train")
    evaluate_protocol(deap_store, cfg, tmp_path / "sd")
    assert len(seen) == 2
    for f, used in zip(sorted(_folds(tmp_path / "sd"), key=lambda f: f["fold"]["index"]),
                       seen):
        assert used and not used & set(f["fold"]["test_trials"])
        assert used <= set(f["fold"]["train_trials"])
    assert "training-side trials only" in (tmp_path / "sd" / "report.md").read_text()


def _store_gsr(st, row: int) -> tuple[np.ndarray, int]:
    import h5py

    with h5py.File(st.path, "r") as f:
        return f["gsr"][0, st.onset[row]:st.stop[row]], row




FULL_BASELINES = ["deepconvnet", "eeg-features", "gsr-features", "shallowconvnet"]




def _comparable(results) -> dict:
    out = {}
    for target, t in results.targets.items():
        for label, m in t.models.items():
            out[(target, label)] = (m.folds, m.pooled, dict(m.per_fold))
    return out


@pytest.fixture(scope="module")
def full_run(deap_store, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "full"
    cfg = small_plan(baselines=FULL_BASELINES)
    res = evaluate_protocol(deap_store, cfg, out)
    return out, res


def test_full_run_reports(full_run):
    out, summary = full_run
    res = summary.to_dict()
    t = res["targets"]["arousal"]
    assert t["folds_done"] == 3
    assert set(t["models"]) == {"teacher", "student-emotionkd", "student-emotionkd+feedback",
                                "student-none", "baseline-deepconvnet", "baseline-eeg-features",
                                "baseline-gsr-features", "baseline-shallowconvnet",
                                "student-ceiling"}  # the headroom's yardstick (latent truth)
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
                     ("student-none", "baseline-gsr-features"),
                     ("student-ceiling", "student-none")}
    assert t["headroom"]["yardstick"] == "student-ceiling"
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
                   "### Effect sizes", "bal. acc. (pooled)", "### Headroom"):
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
    cfg = small_plan(baselines=FULL_BASELINES)
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
    cfg = small_plan(baselines=FULL_BASELINES)
    for i in (2, 0, 1):  # like a job array, in any order
        evaluate_protocol(deap_store, cfg, out, fold=i)
    assert _comparable(build_report(out)) == _comparable(full_run[1])
    with pytest.raises(ConfigError, match="different configuration"):
        evaluate_protocol(deap_store, small_plan(), out, fold=0)
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
    res = evaluate_protocol(deap_store, small_plan(), tmp_path / "r")
    m = res.targets["arousal"].models
    assert m["student-emotionkd+feedback"].folds == 0
    assert len(m["student-emotionkd+feedback"].errors) == 3
    assert m["student-none"].folds == 3
    assert "simulated failure" in (tmp_path / "r" / "report.md").read_text()


def test_gsr_neurokit_without_the_extra_is_one_line_and_writes_nothing(deap_store, tmp_path,
                                                                       capsys, monkeypatch):
    import sys

    from conftest import run_cli

    monkeypatch.setitem(sys.modules, "neurokit2", None)  # import fails as if not installed
    out = tmp_path / "run"
    code, cap = run_cli(["evaluate", "--data", str(deap_store), "--kfold", "2", "--methods",
                         "none", "--baselines", "eeg-de,gsr-neurokit", "--epochs", "1",
                         "--size", "tiny", "--out", str(out)], capsys)
    assert code == 1
    err = cap.err.strip()
    assert len(err.splitlines()) == 1, err
    assert "gsr-neurokit baseline needs the optional package 'neurokit2'" in err
    assert "pip install 'emotionkd[neurokit]'" in err
    assert not out.exists()
