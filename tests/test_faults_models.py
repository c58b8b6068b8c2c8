"""Fault injection into checkpoints, exported-model metadata and run folders (issue 27):
tampered sections, NaN weights, broken metadata, damaged or stray fold files, an evaluation
of another store. Each case: one line naming the file and the field, exit status 1, inputs
unchanged, no output and nothing left behind."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import file_digest, leftovers, one_line_error, run_cli

FIX = "train or distill the model again"


def _csv(path: Path, n: int = 960) -> Path:
    v = 5 + np.cumsum(np.random.default_rng(0).normal(0, 0.01, n))
    path.write_text("gsr\n" + "\n".join(f"{x:.3f}" for x in v) + "\n")
    return path


def _tampered(src: Path, out: Path, change) -> Path:
    ck = torch.load(src, weights_only=True)
    change(ck)
    torch.save(ck, out)
    return out


def _predict_fails(model: Path, tmp_path: Path, capsys, *fragments: str) -> str:
    inp = _csv(tmp_path / "in.csv")
    out = tmp_path / "p.csv"
    regular = model.is_file()  # a FIFO is never read, not even by the test
    before = file_digest(model) if regular else None, file_digest(inp)
    code, cap = run_cli(["predict", "--model", str(model), "--input", str(inp), "--fs", "32",
                         "--out", str(out)], capsys)
    line = one_line_error(code, cap.err, *fragments)
    assert not out.exists() and leftovers(tmp_path) == []
    assert (file_digest(model) if regular else None, file_digest(inp)) == before
    return line


def _data(key, value):
    return lambda ck: ck["data"].__setitem__(key, value)


def _config(key, value):
    return lambda ck: ck["config"]["data"].__setitem__(key, value)


@pytest.mark.parametrize("change, fragments", [
    (_data("sampling_rate", 0), ("data.sampling_rate is 0, not a finite number above 0",)),
    (_data("sampling_rate", -128), ("data.sampling_rate is -128",)),
    (_data("sampling_rate", float("nan")), ("data.sampling_rate is nan",)),
    (_data("window_samples", 0), ("data.window_samples is 0, not a whole number",)),
    (_data("class_names", ["low arousal"]), ("data.class_names is", "not 2 names")),
    (_data("class_names", ["x", "x"]), ("data.class_names is", "'x' twice")),
    (lambda ck: ck.__setitem__("data", [1, 2]), ("data is a list of 2", "not a table")),
    (_data("norm_stats", {"gsr_mean": 0.0, "gsr_std": 0.0}), ("data.norm_stats.gsr_std is 0",)),
    (_config("window", 0), ("window must be",)),
    (_config("window", -5), ("window must be",)),
    (_config("threshold", "five"), ("threshold",)),
    (lambda ck: ck["model_config"].__setitem__("window_s", float("nan")), ("window_s",)),
])
def test_tampered_checkpoint_sections(tiny_models, tmp_path, change, fragments, capsys):
    model = _tampered(tiny_models["student"], tmp_path / "x.pt", change)
    _predict_fails(model, tmp_path, capsys, "x.pt", *fragments)


def test_nan_weights_are_refused(tiny_models, tmp_path, capsys):
    def poison(ck):
        name = next(k for k, v in ck["state_dict"].items() if v.is_floating_point())
        ck["state_dict"][name][...] = float("nan")

    model = _tampered(tiny_models["student"], tmp_path / "x.pt", poison)
    _predict_fails(model, tmp_path, capsys, "x.pt: state_dict", "non-finite value(s)", FIX)


def test_fifo_as_model_is_refused_without_hanging(tmp_path, capsys):
    fifo = tmp_path / "m.pt"
    os.mkfifo(fifo)
    _predict_fails(fifo, tmp_path, capsys, "the model is a FIFO (named pipe)")


@pytest.fixture(scope="module")
def onnx_model(tiny_models, tmp_path_factory) -> Path:
    pytest.importorskip("onnxruntime")
    from emotionkd.export import export_model

    out = tmp_path_factory.mktemp("onnx") / "s.onnx"
    export_model(tiny_models["student"], "onnx", out, card=False)
    return out


def _with_metadata(src: Path, out: Path, text: str) -> Path:
    import onnx

    m = onnx.load(str(src))
    for p in m.metadata_props:
        if p.key == "emotionkd":
            p.value = text
    onnx.save(m, str(out))
    return out


def test_onnx_metadata_broken_json(onnx_model, tmp_path, capsys):
    model = _with_metadata(onnx_model, tmp_path / "x.onnx", '{"format": ')
    _predict_fails(model, tmp_path, capsys, "x.onnx: the emotionkd metadata is not valid JSON",
                   "export the checkpoint again")


@pytest.mark.parametrize("drop, fragment", [
    ("sampling_rate", "predict section is without sampling_rate"),
    ("class_names", "without class_names"),
])
def test_onnx_metadata_missing_entries(onnx_model, tmp_path, drop, fragment, capsys):
    import onnx

    meta = json.loads(next(p.value for p in onnx.load(str(onnx_model)).metadata_props
                           if p.key == "emotionkd"))
    del meta["predict"][drop]
    model = _with_metadata(onnx_model, tmp_path / "x.onnx", json.dumps(meta))
    _predict_fails(model, tmp_path, capsys, fragment)


def test_onnx_metadata_wrong_types(onnx_model, tmp_path, capsys):
    import onnx

    meta = json.loads(next(p.value for p in onnx.load(str(onnx_model)).metadata_props
                           if p.key == "emotionkd"))
    meta["predict"]["sampling_rate"] = "32 Hz"
    model = _with_metadata(onnx_model, tmp_path / "x.onnx", json.dumps(meta))
    _predict_fails(model, tmp_path, capsys, "sampling_rate is '32 Hz' (text)")


# ---------------------------------------------------------------------------------------------
# run folders


@pytest.fixture(scope="module")
def run_dir(deap_store, tmp_path_factory) -> Path:
    """A finished 3-fold LOSO run of the tiny teacher and student alone, one epoch."""
    from conftest import small_plan

    from emotionkd.evaluation import evaluate_protocol

    out = tmp_path_factory.mktemp("run") / "run"
    evaluate_protocol(deap_store, small_plan(epochs=1, methods="none"), out)
    return out


@pytest.fixture()
def run_copy(run_dir, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    return out


def _report_fails(run: Path, capsys, *fragments: str) -> str:
    results = run / "results.json"
    before = file_digest(results)
    code, cap = run_cli(["report", str(run)], capsys)
    line = one_line_error(code, cap.err, *fragments)
    assert file_digest(results) == before and leftovers(run) == []
    return line


def _folds(run: Path) -> list[Path]:
    return sorted((run / "folds").glob("*/seed-*/fold-*.json"))


def test_fold_file_holding_a_list(run_copy, capsys):
    _folds(run_copy)[0].write_text("[1,2]")
    _report_fails(run_copy, capsys, "fold-000.json: the content is a list of 2",
                  "not a JSON object", "rerun that fold with --resume")


def test_fold_file_broken_json(run_copy, capsys):
    _folds(run_copy)[1].write_text("{")
    _report_fails(run_copy, capsys, "fold-001.json: the content is not valid JSON")


def test_stray_fold_outside_the_protocol(run_copy, capsys):
    first = _folds(run_copy)[0]
    doc = json.loads(first.read_text())
    doc["fold"]["index"] = 7
    (first.parent / "fold-007.json").write_text(json.dumps(doc))
    line = _report_fails(run_copy, capsys, "fold-007.json: fold index is 7, not a fold of "
                                           "this 3-fold run (0-2)", "delete it")
    assert "4 of 3" not in line


def test_fold_file_under_the_wrong_name(run_copy, capsys):
    first, second = _folds(run_copy)[:2]
    second.write_text(first.read_text())  # fold 0's result saved as fold 1
    _report_fails(run_copy, capsys, "fold-001.json: the fold is fold 0, seed 0")


def test_fold_of_another_seed(run_copy, capsys):
    first = _folds(run_copy)[0]
    doc = json.loads(first.read_text())
    doc["seed"] = 5
    first.write_text(json.dumps(doc))
    _report_fails(run_copy, capsys, "seed is 5, not a seed of this run (0)")


def test_run_json_broken_on_resume(run_copy, deap_store, capsys):
    (run_copy / "run.json").write_text("{")
    before = {p: file_digest(p) for p in _folds(run_copy)}
    from emotionkd.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["evaluate", "--data", str(deap_store), "--loso", "--out", str(run_copy),
              "--resume", "--methods", "none", "--size", "tiny", "--epochs", "1", "--window",
              "2", "--step", "2", "--batch-size", "16"])
    one_line_error(int(exc.value.code), capsys.readouterr().err,
                   "run.json: the content is not valid JSON", "new --out")
    assert {p: file_digest(p) for p in _folds(run_copy)} == before


def test_run_json_folds_damaged(run_copy, capsys):
    meta = json.loads((run_copy / "run.json").read_text())
    meta["folds"] = {"0": "three"}
    (run_copy / "run.json").write_text(json.dumps(meta))
    _report_fails(run_copy, capsys, "run.json: folds '0' is 'three' (text), not a list")


def test_export_evaluation_of_another_store(run_dir, tiny_models, deap_raw, tmp_path,
                                            capsys):
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.preprocess import preprocess_deap

    raw = tmp_path / "other_raw"
    write_deap(raw, n_subjects=2, n_trials=4, seconds=12.0, seed=11)
    other = tmp_path / "other.h5"
    preprocess_deap(raw, other)
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    results = json.loads((run / "results.json").read_text())
    results["store"] = str(other)  # the run evaluated another store (2 subjects)
    (run / "results.json").write_text(json.dumps(results))
    out = tmp_path / "s.onnx"
    code, cap = run_cli(["export", "--model", str(tiny_models["student"]), "--format",
                         "torchscript",
                         "--out", str(tmp_path / "s.ts"), "--evaluation", str(run)], capsys)
    one_line_error(code, cap.err, "--evaluation", "lacks subject(s) [3]", "another dataset")
    assert not out.exists() and not (tmp_path / "s.ts").exists()
    assert leftovers(tmp_path) == []


def test_export_evaluation_of_the_same_store_is_accepted(run_dir, tiny_models, tmp_path,
                                                         capsys):
    out = tmp_path / "s.ts"
    code, cap = run_cli(["export", "--model", str(tiny_models["student"]), "--format",
                         "torchscript",
                         "--out", str(out), "--evaluation", str(run_dir)], capsys)
    assert code == 0, cap.err
    assert "Evaluation run" in (tmp_path / "s.ts.md").read_text()
