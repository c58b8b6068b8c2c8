"""Distillation methods are registered objects: a new method is one class, and the command
line (choices, flags, help), the configuration, evaluate and the report pick it up."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import method_object
from conftest import run_cli as _cli

from emotionkd.config import DistillConfig, resolve_config
from emotionkd.distill import methods
from emotionkd.distill.methods import DistillMethod, Outputs, method_class, register, unregister
from emotionkd.errors import ConfigError
from emotionkd.settings import setting


class ToyMethod(DistillMethod):
    """CE plus the mean absolute difference of the student's and the teacher's logits."""

    name = "toy"
    summary = "CE + toy_weight · |logit gap|"
    teacher_outputs = frozenset({"logits"})
    uses = ("ce_weight",)
    presets = {"ce_weight": 1.0}
    settings = {"toy_weight": setting(0.5, "Weight of the toy method's logit gap.",
                                      rule={"low": 0})}

    def loss(self, out: Outputs, state: torch.nn.Module | None
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        from emotionkd.distill.losses import ce

        terms = {"ce": ce(out.student_logits, out.y, out.class_weight),
                 "gap": (out.student_logits - out.teacher_logits).abs().mean()}
        return (self.params["ce_weight"] * terms["ce"]
                + self.params["toy_weight"] * terms["gap"]), terms


@pytest.fixture()
def toy():
    register(ToyMethod)
    yield ToyMethod
    unregister("toy")


def _help(args: list[str], capsys) -> str:
    code, cap = _cli([*args, "--help"], capsys)
    assert code == 0, cap.err
    return " ".join(cap.out.replace("│", " ").split())


def test_the_built_in_methods_keep_their_presets():
    assert methods.names() == ("emotionkd", "kd", "fitnets", "none", "rkd", "pkt", "crd")
    want = {"emotionkd": (1.0, 0.1, 1.0, 1.0), "kd": (0.1, 0.9, 0.0, 4.0),
            "fitnets": (1.0, 0.0, 1.0, 1.0), "none": (1.0, 0.0, 0.0, 1.0)}
    for name, weights in want.items():
        p = DistillConfig(method=name).params()
        assert (p["ce_weight"], p["kl_weight"], p["hint_weight"], p["temperature"]) == weights
    assert methods.alone_method() == "none"
    assert [n for n in methods.names() if methods.method_class(n).feedback_default] == \
        ["emotionkd"]


def test_a_registered_method_joins_the_configuration(toy):
    cfg = resolve_config("distill", {"method": "toy", "toy_weight": 0.2})
    assert cfg.distill.params() == {"toy_weight": 0.2, "ce_weight": 1.0}
    assert cfg.distill.options == {"toy_weight": 0.2}
    resolved = cfg.resolved("distill")["distill"]
    assert resolved["method"] == "toy" and resolved["toy_weight"] == 0.2
    assert resolved["feedback"] is False  # not a feedback method
    again = type(cfg).from_tables(cfg.resolved("distill"), "test")
    assert again.resolved("distill") == cfg.resolved("distill")
    with pytest.raises(ConfigError, match="--toy-weight must be a finite number of at least 0"):
        resolve_config("distill", {"method": "toy", "toy_weight": -1})
    z_s, z_t = torch.tensor([[0.5, -0.5]]), torch.tensor([[1.0, 0.0]])
    total, terms = cfg.distill.method_object().loss(
        Outputs(torch.tensor([0]), z_s, torch.zeros(1, 2, 3), z_t), None)
    assert terms["gap"].item() == pytest.approx(0.5)
    assert total.item() == pytest.approx(terms["ce"].item() + 0.2 * 0.5)


def test_a_registered_method_shows_up_in_the_command_line(toy, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per option: nothing wrapped
    monkeypatch.setenv("TERMINAL_WIDTH", "300")
    distill = _help(["distill"], capsys)
    assert "<emotionkd|kd|fitnets|none|rkd|pkt|crd|toy>" in distill
    assert "toy (CE + toy_weight · |logit gap|)" in distill
    assert "--toy-weight" in distill and "Weight of the toy method's logit gap." in distill
    evaluate = _help(["evaluate"], capsys)
    assert ("Students, comma-separated: emotionkd, kd, fitnets, none, rkd, pkt, crd, toy."
            in evaluate)
    code, cap = _cli(["distill", "--method", "toy", "--toy-weight", "0.3", "--print-config"],
                     capsys)
    assert code == 0 and 'method = "toy"' in cap.out and "toy_weight = 0.3" in cap.out
    unregister("toy")
    assert "toy" not in _help(["distill"], capsys)  # the command line is built again
    register(ToyMethod)


def test_a_registered_method_distils_and_is_evaluated(toy, deap_store, tmp_path, capsys):
    from emotionkd.checkpoint import load_checkpoint

    small = ["--size", "tiny", "--epochs", "1", "--batch-size", "16", "--window", "2",
             "--step", "2"]
    t = tmp_path / "t.pt"
    code, cap = _cli(["train-teacher", "--data", str(deap_store), "--out", str(t), *small],
                     capsys)
    assert code == 0, cap.err
    s = tmp_path / "s.pt"
    code, cap = _cli(["distill", "--teacher", str(t), "--data", str(deap_store), "--out", str(s),
                      "--method", "toy", "--toy-weight", "0.2", "--epochs", "1"], capsys)
    assert code == 0, cap.err
    assert "method toy (toy_weight 0.2, ce_weight 1.0), feedback off" in cap.out
    ck = load_checkpoint(s)
    assert ck["config"]["distill"]["method"] == "toy"
    assert ck["config"]["distill"]["toy_weight"] == 0.2
    assert any("train_gap" in h for h in ck["training"]["history"])  # the toy loss trained
    run = tmp_path / "run"
    code, cap = _cli(["evaluate", "--data", str(deap_store), "--loso", "--methods", "toy,none",
                      "--baselines", "none", *small, "--out", str(run)], capsys)
    assert code == 0, cap.err
    assert "student-toy − student-none" in cap.out
    report = (run / "report.md").read_text()
    assert "| student-toy |" in report and "student-toy − student-none" in report
    results = json.loads((run / "results.json").read_text())
    assert results["targets"]["arousal"]["models"]["student-toy"]["folds"] + \
        results["targets"]["arousal"]["models"]["student-toy"]["single_class_folds"] == 3


def test_method_presets_and_objective():
    assert method_object().params == {"ce_weight": 1.0, "kl_weight": 0.1, "hint_weight": 1.0,
                                "temperature": 1.0, "hint_map": "fold"}
    kd = method_object("kd").params
    assert (kd["ce_weight"], kd["kl_weight"], kd["hint_weight"], kd["temperature"]) == \
        (0.1, 0.9, 0.0, 4.0)
    assert method_object("fitnets").params["kl_weight"] == 0
    assert method_object("none").params["hint_weight"] == 0 and method_object("none").alone
    assert method_object(kl_weight=0.5, hint_map="gsr").params["kl_weight"] == 0.5
    assert method_object("kd").needs() == {"logits"}
    assert method_object("fitnets").needs() == {"features"}
    with pytest.raises(ConfigError, match="--method"):
        method_object("vid")
    with pytest.raises(ConfigError, match="--temperature must be a finite number above 0"):
        method_object("kd", temperature=0)
    with pytest.raises(ConfigError, match="--hint-map must be one of fold, gsr, eeg"):
        method_object("kd", hint_map="both")
    z_s = torch.tensor([[0.2, -0.1]])
    z_t = torch.tensor([[1.0, 0.0]])
    y = torch.tensor([1])
    f_s, f_t = torch.zeros(1, 2, 3), torch.ones(1, 4, 3)
    w = method_class("emotionkd")({"ce_weight": 1.0, "kl_weight": 0.1, "hint_weight": 1.0})
    total, terms = w.loss(Outputs(y, z_s, f_s, z_t, f_t), None)
    ce = -math.log(math.exp(-0.1) / (math.exp(0.2) + math.exp(-0.1)))
    assert terms["ce"].item() == pytest.approx(ce, rel=1e-6)
    assert terms["hint"].item() == pytest.approx(4.0)  # fold: 1 + 1 = 2, squared
    assert total.item() == pytest.approx(ce + 0.1 * terms["kl"].item() + 4.0, rel=1e-6)
    _, only_ce = method_object("none").loss(Outputs(y, z_s, f_s, z_t, f_t), None)
    assert set(only_ce) == {"ce"}
