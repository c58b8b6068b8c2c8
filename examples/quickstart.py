"""Quick start: synthetic DEAP-layout data → HDF5 store → training windows.

    python examples/quickstart.py [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from emotionkd.config import DataConfig
from emotionkd.datasets.synthetic import write_deap
from emotionkd.metrics import class_balance
from emotionkd.preprocess import preprocess_deap
from emotionkd.store import open_store
from emotionkd.windows import WindowDataset


def main(out: Path) -> None:
    raw = out / "data_preprocessed_python"
    write_deap(raw, n_subjects=3, n_trials=6, seconds=20, seed=0)
    report = preprocess_deap(raw, out / "deap.h5", overwrite=True)
    print(f"store: {report.out} ({report.n_subjects} subjects, {report.n_trials} trials)")

    store = open_store(out / "deap.h5")
    ds = WindowDataset(store, DataConfig(window=4, step=2, target="arousal", threshold=5))
    eeg, gsr, y = ds.batch(range(8))
    print(f"{len(ds)} windows; a batch: eeg {tuple(eeg.shape)}, gsr {tuple(gsr.shape)}, "
          f"labels {y.tolist()}")
    print("class balance:", class_balance(ds.labels))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.out is None:
        with tempfile.TemporaryDirectory() as tmp:
            main(Path(tmp))
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        main(args.out)
