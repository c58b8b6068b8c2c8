"""Does the baseline length matter to a per-subject-normalised GSR model? (docs/evaluation.md,
"Across datasets"): the same synthetic HCI trials stored with the last L seconds before each
onset as the subtracted baseline (L = 30, 10, 3, 1) and without subtraction, compared with
L = 30 s — the normalised GSR windows and the decisions of a GSR student trained on a
synthetic DEAP store.

    python studies/baseline_length.py --work runs/baseline-length
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np


def _stores(work: Path) -> tuple[Path, Path]:
    from emotionkd.datasets.synthetic import write_deap
    from emotionkd.datasets.synthetic_hci import write_hci
    from emotionkd.preprocess import preprocess_deap, preprocess_hci

    deap, hci = work / "deap.h5", work / "hci-keep.h5"
    if not deap.exists():
        write_deap(work / "deap", n_subjects=4, n_trials=8, seconds=20.0, seed=1)
        preprocess_deap(work / "deap", deap)
    if not hci.exists():
        write_hci(work / "hci", n_subjects=3, n_trials=6, seed=2, stimulus_s=(20.0, 30.0))
        preprocess_hci(work / "hci", hci, baseline="keep")
    return deap, hci


def _student(work: Path, deap: Path) -> Path:
    from emotionkd.jobs import distill_student, train_teacher

    t, s = work / "teacher.pt", work / "student.pt"
    if not s.exists():
        train_teacher(deap, t, epochs=4, size="tiny", overwrite=True)
        distill_student(t, deap, s, epochs=4, overwrite=True)
    return s


def _with_baseline(hci: Path, out: Path, seconds: float) -> Path:
    """The trials of ``hci`` (stored with their baselines) again, with the last ``seconds``
    before each onset subtracted (0: nothing subtracted)."""
    from emotionkd.ingest import write_store
    from emotionkd.store import open_store

    st = open_store(hci)
    _, gsr, off = st.load_signals(np.arange(st.n_trials), load_eeg=False)
    fs, parts = st.sampling_rate, []
    for i in range(st.n_trials):
        g, on = gsr[0, off[i]:off[i + 1]], int(st.onset[i] - st.start[i])
        parts.append(g[on - int(seconds * fs):])
    col = st.rating_index("arousal")
    return write_store(out, gsr=parts, fs=fs, gsr_unit="us", baseline_s=seconds,
                       ratings={"arousal": st.ratings[:, col].tolist()},
                       rating_scales={"arousal": (1, 9)}, subjects=st.subject.tolist(),
                       trial_ids=st.trial.tolist(), target_fs=None, source="hci",
                       overwrite=True).out


def main(work: Path) -> None:
    from emotionkd.checkpoint import build_from_checkpoint, checkpoint_data, load_checkpoint
    from emotionkd.store import open_store
    from emotionkd.training import predict_proba
    from emotionkd.windows import WindowDataset

    work.mkdir(parents=True, exist_ok=True)
    deap, hci = _stores(work)
    ck = load_checkpoint(_student(work, deap))
    model, data = build_from_checkpoint(ck), replace(checkpoint_data(ck), eeg_channels="store")
    seen = {}
    for seconds in (30.0, 10.0, 3.0, 1.0, 0.0):
        ds = WindowDataset(open_store(_with_baseline(hci, work / f"hci-{seconds:g}.h5",
                                                     seconds)), data, load_eeg=False)
        x = ds.batch(np.arange(len(ds)), eeg=False)[1].numpy()
        seen[seconds] = (predict_proba(model, ds, inputs=("gsr",))[:, 1], x)
    p30, x30 = seen[30.0]
    for seconds, (p, x) in seen.items():
        what = f"{seconds:g}-s baseline" if seconds else "no subtraction"
        print(f"{what:>16}: {len(p)} windows, mean |Δ window| {np.abs(x - x30).mean():.2f} SD, "
              f"decisions changed {100 * np.mean((p >= 0.5) != (p30 >= 0.5)):.0f} % "
              "(against the 30-s baseline)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/baseline-length"))
    main(ap.parse_args().work)
