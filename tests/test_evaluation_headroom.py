"""Headroom and capture from fold results: per test subject, paired, subject bootstrap."""

from __future__ import annotations

import pytest

from emotionkd.evaluation.headroom import CEILING, Headroom, headroom, subject_units
from emotionkd.evaluation.report import headroom_lines, headroom_section

Y = [0, 0, 1, 1]
# probabilities of the high class giving a balanced accuracy of 1, 0.75 and 0.5 on Y
P = {1.0: [0.1, 0.1, 0.9, 0.9], 0.75: [0.1, 0.1, 0.9, 0.1], 0.5: [0.9, 0.1, 0.9, 0.1]}


def _fold(index: int, subject: int, seed: int, scores: dict[str, float]) -> dict:
    return {"fold": {"index": index, "test_subjects": [subject]}, "seed": seed,
            "test_labels": Y, "test_latent_labels": Y, "test_window_subjects": [subject] * 4,
            "models": {label: {"p_high": P[v], "metrics": {}} for label, v in scores.items()}}


def _run(table: dict[int, tuple[float, float, float]], seeds: int = 1) -> list[dict]:
    """Folds from {subject: (none, ceiling, kd)} balanced accuracies, repeated per seed."""
    return [_fold(i, s, seed, {"student-none": v[0], CEILING: v[1], "student-kd": v[2]})
            for seed in range(seeds) for i, (s, v) in enumerate(table.items())]


LABELS = ["student-kd", "student-none", CEILING]


def test_units_are_test_subjects_with_every_models_balanced_accuracy():
    units = subject_units(_run({1: (0.5, 1.0, 0.75)}), "test_latent_labels")
    assert units == [(1, {"student-none": 0.5, CEILING: 1.0, "student-kd": 0.75})]


def test_capture_is_the_ratio_of_summed_gains_with_a_subject_bootstrap():
    folds = _run({1: (0.5, 1.0, 0.75), 2: (0.5, 0.75, 0.75), 3: (0.75, 1.0, 0.75)}, seeds=2)
    h = headroom(folds, LABELS, "student-none", CEILING, latent=True)
    # headroom per subject 0.5, 0.25, 0.25 (mean 1/3); gain 0.25, 0.25, 0 (mean 1/6);
    # capture (0.25 + 0.25 + 0) / (0.5 + 0.25 + 0.25) = 0.5
    assert h.headroom == pytest.approx(1 / 3) and h.defined
    assert (h.subjects, h.units) == (3, 6)  # the seeds of a subject are one cluster
    assert 0.25 <= h.headroom_ci[0] <= h.headroom_ci[1] <= 0.5  # the cluster means' range
    c = h.captures["student-kd"]
    assert c.gain == pytest.approx(1 / 6) and c.capture == pytest.approx(0.5)
    # every resample's ratio lies between the clusters' own ratios 0 and 1
    assert 0.0 <= c.capture_ci[0] < 0.5 < c.capture_ci[1] <= 1.0
    assert Headroom.from_dict(h.to_dict()) == h
    text = "\n".join(headroom_section(h))
    assert "+33.3 pp" in text and "| student-kd | +16.7 pp" in text and "50 % [" in text
    assert headroom_lines(h)[1].startswith("student-kd: gain +16.7 pp")


def test_capture_is_undefined_when_the_headroom_is_within_noise():
    folds = _run({1: (0.5, 0.75, 0.75), 2: (0.75, 0.5, 0.75), 3: (0.5, 0.5, 0.5)})
    h = headroom(folds, LABELS, "student-none", CEILING, latent=True)
    assert h.headroom == pytest.approx(0.0) and not h.defined
    assert h.headroom_ci[0] < 0 < h.headroom_ci[1]
    c = h.captures["student-kd"]
    # gains 0.25, 0, 0 over the three subjects
    assert c.capture is None and c.capture_ci is None and c.gain == pytest.approx(1 / 12)
    assert "within noise" in h.note and "undefined" in "\n".join(headroom_section(h))


def test_feedback_is_judged_against_its_method_on_the_same_units():
    folds = _run({1: (0.5, 1.0, 0.75), 2: (0.5, 0.75, 0.75), 3: (0.75, 1.0, 0.75)})
    for f, fb in zip(folds, (1.0, 0.5, 0.75)):  # feedback: +0.25, −0.25, 0 against kd
        f["models"]["student-kd+feedback"] = {"p_high": P[fb]}
    h = headroom(folds, [*LABELS, "student-kd+feedback"], "student-none", CEILING, True)
    gain, lo, hi = h.feedback["student-kd+feedback"]
    assert gain == pytest.approx(0.0) and lo < 0 < hi
    assert h.captures["student-kd+feedback"].capture == pytest.approx(0.5)  # 0.5 / 1.0
    assert "* feedback: student-kd+feedback − student-kd: +0.0 pp [" in \
        "\n".join(headroom_section(h))


def test_one_class_subjects_and_missing_rows_are_left_out():
    folds = _run({1: (0.5, 1.0, 0.75), 2: (0.5, 0.75, 0.75)})
    folds[1]["test_latent_labels"] = [1, 1, 1, 1]  # subject 2: one class of the truth
    assert [k for k, _ in subject_units(folds, "test_latent_labels")] == [1]
    assert headroom(folds, ["student-none"], "student-none", CEILING, latent=True) is None
