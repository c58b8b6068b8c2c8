"""The data commands (emotionkd.cli.data): synth, preprocess, info and models."""

from __future__ import annotations

import json

from conftest import run_cli as _cli


def test_synth_preprocess_info_pipeline(tmp_path, capsys):
    raw = tmp_path / "raw"
    code, cap = _cli(["synth", "deap", "--out", str(raw), "--subjects", "2", "--trials", "3",
                      "--seconds", "5", "--seed", "3"], capsys)
    assert code == 0 and "wrote 2 subject files" in cap.out
    assert sorted(p.name for p in raw.iterdir()) == ["emotionkd-latent.csv", "s01.dat",
                                                     "s02.dat"]
    (raw / "README.txt").write_text("stray")
    store = tmp_path / "d.h5"
    code, cap = _cli(["preprocess", "deap", "--raw", str(raw), "--out", str(store),
                      "--eeg-channels", "tsception28"], capsys)
    assert code == 0 and "2 subjects, 6 trials" in cap.out and "README.txt" in cap.out
    code, cap = _cli(["info", str(store), "--json"], capsys)
    info = json.loads(cap.out)
    assert info["source"] == "deap" and len(info["eeg_channels"]) == 28
    assert info["n_trials"] == 6 and set(info["ratings"]) == {"valence", "arousal", "dominance",
                                                              "liking"}
    code, cap = _cli(["info", str(store)], capsys)
    assert code == 0 and "arousal" in cap.out and "class balance at threshold 5" in cap.out
    # existing output is kept
    code, cap = _cli(["preprocess", "deap", "--raw", str(raw), "--out", str(store)], capsys)
    assert code == 1 and "--overwrite" in cap.err


def test_models_command_lists_the_registry(capsys):
    code, cap = _cli(["models", "--size", "tiny"], capsys)
    assert code == 0
    assert "gsr-features" in cap.out and "gsr, teacher" in cap.out and "–" in cap.out


def test_models_command(capsys):
    code, cap = _cli(["models"], capsys)
    # the teacher with its anchored spectral path (the reference architecture has 2,047,490)
    assert code == 0 and "993,986" in cap.out and "2,047,960" in cap.out


def test_synth_deap_world_families(tmp_path, capsys):
    from emotionkd.datasets.synthetic import read_latent_table

    raw = tmp_path / "rhythms"
    code, cap = _cli(["synth", "deap", "--out", str(raw), "--world", "rhythms", "--subjects",
                      "2", "--trials", "2", "--seconds", "4", "--rating-bias", "0.5"], capsys)
    assert code == 0 and "wrote 2 subject files" in cap.out
    assert len(read_latent_table(raw)) == 4
    for args, message in ((["--world", "own", "--rating-bias", "1"], "--rating-bias applies"),
                          (["--world", "sources", "--eeg-cue", "2"], "--world own only"),
                          (["--world", "planets"], "planets")):
        out = tmp_path / "bad"
        code, cap = _cli(["synth", "deap", "--out", str(out), "--subjects", "1", *args], capsys)
        assert code != 0 and message in cap.err and not (out / "s01.dat").exists()


def test_info_says_a_store_is_synthetic(deap_store, capsys):
    code, cap = _cli(["info", str(deap_store)], capsys)
    assert code == 0, cap.err
    assert "source: deap (synthetic: emotionkd's generated physiology" in cap.out
    code, cap = _cli(["info", str(deap_store), "--json"], capsys)
    assert json.loads(cap.out)["synthetic"] is True
