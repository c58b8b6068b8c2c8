"""The experiment configuration: one name and one default per setting, files and flags mapped
onto it, --print-config round trips, and the registry the commands ask instead of names."""

from __future__ import annotations

import math

import pytest
from conftest import run_cli as _cli

from emotionkd.config import (
    COMMAND_TABLES,
    TABLES,
    ExperimentConfig,
    homes,
    read_config_file,
    resolve_config,
    settings,
    toml_value,
    tomllib,
)
from emotionkd.errors import ConfigError
from emotionkd.settings import meta
from emotionkd.validation import parse_subjects


def test_every_setting_has_one_name_help_and_a_checked_default():
    assert len(homes()) == sum(len(settings(t)) for t in TABLES)  # no name in two tables
    for table in TABLES:
        for key, f in settings(table).items():
            assert meta(f, "help").endswith(".") and "[" not in meta(f, "help"), key
            assert f.default is not None or meta(f, "shown"), f"{key}: say what None means"
    ExperimentConfig()  # every default passes its own checks


def test_toml_writer_reads_back():
    values = {"s": 'quote " back\\slash\nnew line ü', "t": True, "f": False, "i": 7, "x": 1e-05,
              "y": 0.1, "z": -3.0, "big": 1e300, "l": ["a", 1, 2.5], "n": math.inf}
    text = "\n".join(f"{k} = {toml_value(v)}" for k, v in values.items())
    assert tomllib.loads(text) == values
    assert math.isnan(tomllib.loads(f"v = {toml_value(math.nan)}")["v"])
    with pytest.raises(ConfigError, match="cannot write"):
        toml_value({"a": 1})


@pytest.mark.parametrize("command", sorted(COMMAND_TABLES))
def test_print_config_round_trip(command, tmp_path, capsys):
    """--print-config → --config gives the same resolved values (the printed text is a fixed
    point), for files and flags of every table."""
    src = tmp_path / "src.toml"
    src.write_text('seed = 3\n[data]\nwindow = 2.0\neeg_channels = "tsception28"\n'
                   '[model]\nsize = "tiny"\nd_model = 24\n[distill]\nmethod = "kd"\n'
                   'temperature = 2.0\n[feedback]\nfeedback_warmup = 3\n'
                   '[evaluate]\nprotocol = "kfold"\nk = 4\nseeds = [0, 1]\n')
    flags = {"train-teacher": ["--epochs", "5", "--val-subjects", "1,2"],
             "distill": ["--kl-weight", "0.5", "--no-feedback", "--pilot-lr", "0.02"],
             "evaluate": ["--loso", "--baselines", "none", "--feedback-ablation"]}[command]
    code, cap = _cli([command, "--config", str(src), *flags, "--print-config"], capsys)
    assert code == 0, cap.err
    first = cap.out
    printed = tmp_path / "printed.toml"
    printed.write_text(first)
    code, cap = _cli([command, "--config", str(printed), "--print-config"], capsys)
    assert code == 0, cap.err
    assert cap.out == first
    again = resolve_config(command, config=printed)
    orig = resolve_config(command, config=src, given=None)
    assert set(tomllib.loads(first)) == set(COMMAND_TABLES[command])
    assert again.resolved(command) == tomllib.loads(first)
    if command == "evaluate":
        assert tomllib.loads(first)["evaluate"]["protocol"] == "loso"  # the flag wins
        assert orig.evaluate.protocol == "kfold" and again.evaluate.seed_list(0) == [0, 1]


def test_files_are_checked_whatever_the_command(tmp_path, capsys):
    f = tmp_path / "c.toml"
    f.write_text("[evaluate]\nmethods = 'emotionkd,vid'\n")
    code, cap = _cli(["train-teacher", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: methods: unknown vid" in cap.err  # not applied, still checked
    f.write_text("[misc]\nx = 1\n")
    code, cap = _cli(["distill", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: unknown table [misc]; tables: [data], [model]" in cap.err
    f.write_text("[train]\nepochs = 0\n")
    code, cap = _cli(["distill", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: epochs must be a whole number of at least 1" in cap.err
    f.write_text("[model]\nd_model = 'wide'\n")
    code, cap = _cli(["train-teacher", "--config", str(f), "--print-config"], capsys)
    assert code == 1 and "c.toml: model: d_model must be a whole number of at least 1" in cap.err
    f.write_text("epochs = 3\n[train]\nepochs = 4\n")
    with pytest.raises(ConfigError, match="key 'epochs' is set twice"):
        resolve_config("evaluate", config=f)
    f.write_text("[train]\nwarmup_epochs = 9\nepochs = 3\n")
    with pytest.raises(ConfigError, match="c.toml: --warmup-epochs must be between 0 and"):
        resolve_config("train-teacher", config=f)
    with pytest.raises(ConfigError, match=r"no such config file"):
        resolve_config("train-teacher", config=tmp_path / "none.toml")


def test_old_names_are_unknown_and_misplaced_keys_get_a_note(tmp_path, capsys):
    """The package was never released: the names before the one configuration (alpha, beta,
    warmup, window_s, step_s) and the [train-teacher] table are unknown, with a hint."""
    f = tmp_path / "old.toml"
    for text, message in (("[distill]\nalpha = 0.3\n", "unknown key 'alpha'"),
                          ("warmup = 4\n", "unknown key 'warmup'"),
                          ("[train-teacher]\nepochs = 2\n", r"unknown table \[train-teacher\]")):
        f.write_text(text)
        with pytest.raises(ConfigError, match=message):
            resolve_config("distill", config=f)
    f.write_text("[distill]\npilot_lr = 0.05\n")
    notes: list[str] = []
    cfg = resolve_config("distill", config=f, notes=notes)
    assert cfg.feedback.pilot_lr == 0.05 and "pilot_lr belongs in [feedback]" in notes[0]
    code, cap = _cli(["distill", "--beta", "0.7", "--print-config"], capsys)
    assert code == 2 and "--beta: no such option of 'emotionkd distill'" in cap.err
    assert "did you mean" not in cap.err  # nothing close
    from emotionkd.jobs import configure

    with pytest.raises(ConfigError, match="unknown option 'window_s'"):
        configure("train-teacher", None, {"window_s": 2.0})


def test_keywords_must_belong_to_the_command():
    with pytest.raises(ConfigError, match=r"unknown option 'kl_weight' \(train-teacher does "
                                          r"not apply \[distill\]\)"):
        resolve_config("train-teacher", {"kl_weight": 0.2})
    with pytest.raises(ConfigError, match="unknown option 'epoch'; known: .*epochs"):
        resolve_config("distill", {"epoch": 1})
    with pytest.raises(ConfigError, match="--norm must be one of subject, train, none"):
        resolve_config("evaluate", {"norm": "global"})


def test_distill_table_applies_to_its_method_only():
    cfg = resolve_config("evaluate", {"kl_weight": 0.3, "temperature": 2.0, "hint_map": "gsr"})
    assert cfg.distill.params()["kl_weight"] == 0.3  # emotionkd: the table's method
    kd = cfg.distill.params("kd")
    assert (kd["kl_weight"], kd["temperature"], kd["hint_map"]) == (0.9, 4.0, "gsr")  # preset
    assert cfg.distill.feedback_on("evaluate") and cfg.distill.feedback_on("distill")
    kd_cfg = resolve_config("distill", {"method": "kd"})
    assert not kd_cfg.distill.feedback_on("distill") and kd_cfg.distill.feedback_on("evaluate")


def test_train_recipe_is_settable_by_flag_and_file(tmp_path):
    f = tmp_path / "r.toml"
    f.write_text('[train]\nschedule = "constant"\nwarmup_epochs = 0.5\nlabel_smoothing = 0.2\n')
    for command in COMMAND_TABLES:
        cfg = resolve_config(command, config=f).train
        assert (cfg.schedule, cfg.warmup_epochs, cfg.label_smoothing) == ("constant", 0.5, 0.2)
        cfg = resolve_config(command, {"label_smoothing": 0.0, "warmup_epochs": 2.0}, f).train
        assert (cfg.label_smoothing, cfg.warmup_epochs) == (0.0, 2.0)  # flags over the file
    default = ExperimentConfig().train
    assert (default.epochs, default.patience, default.schedule, default.warmup_epochs,
            default.label_smoothing) == (20, 0, "cosine", 1.0, 0.1)
    assert ExperimentConfig().feedback.feedback_warmup == 1  # a separate setting


def test_config_file_precedence_and_errors(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('target = "valence"\n[train]\nepochs = 7\nlr = 0.01\n[model]\nd_model = 16\n')
    values = {k: v for k, (v, _) in read_config_file(cfg).items()}
    assert values == {"target": "valence", "epochs": 7, "lr": 0.01, "d_model": 16}
    out = resolve_config("train-teacher", {"lr": 0.5, "epochs": None}, cfg)
    assert (out.data.target, out.train.epochs, out.train.lr) == ("valence", 7, 0.5)
    assert out.model.architecture == {"d_model": 16} and out.train.patience == 0  # default
    bad = tmp_path / "bad.toml"
    bad.write_text("epochz = 3\n")
    with pytest.raises(ConfigError, match="bad.toml: unknown key 'epochz' .did you mean epochs"):
        resolve_config("train-teacher", {}, bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("epochs = [\n")
    with pytest.raises(ConfigError, match="broken.toml: invalid TOML"):
        read_config_file(broken)
    assert parse_subjects("1,3-5", "--x") == [1, 3, 4, 5]
    with pytest.raises(ConfigError, match="--x: cannot read"):
        parse_subjects("a-b", "--x")


def test_kd_grid_pairs_and_their_errors():
    from emotionkd.config import DistillConfig

    assert DistillConfig(kd_grid="0.1:1, 0.9:4").kd_pairs() == [(0.1, 1.0), (0.9, 4.0)]
    assert DistillConfig().kd_pairs() == []
    for bad in ("0.5", "a:2", "0.5:0", "-1:2"):
        with pytest.raises(ConfigError, match="--kd-grid: .* is not WEIGHT:T"):
            DistillConfig(kd_grid=bad)
    with pytest.raises(ConfigError, match="--teacher-targets must be one of fit, crossfit"):
        DistillConfig(teacher_targets="oof")
    with pytest.raises(ConfigError, match="--crossfit-folds"):
        DistillConfig(crossfit_folds=1)
