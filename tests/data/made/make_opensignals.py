"""Write ``opensignals_bitalino_eda.txt``: a BITalino (r)evolution recording in the published
OpenSignals text layout, made from the real NeuroKit recording in ../real (MIT).

    python tests/data/made/make_opensignals.py

The first 40 s of the NeuroKit EDA (µS) and ECG columns at 100 Hz become the raw 10-bit ADC
counts a BITalino would have streamed on A3 (EDA sensor) and A2 (ECG sensor), through the
inverses of the sensors' transfer functions: ADC = EDA·0.132/3.3·2¹⁰ and
ADC = (ECG_mV/1000·1100/3.3 + 0.5)·2¹⁰, rounded and clipped to 0…1023.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
N = 4000  # 40 s at 100 Hz


def main() -> None:
    with open(HERE.parent / "real" / "neurokit_bio_eventrelated_100hz.csv") as fh:
        rows = list(csv.DictReader(fh))
    eda = np.array([float(r["EDA"]) for r in rows[:N]])
    ecg = np.array([float(r["ECG"]) for r in rows[:N]])
    a3 = np.clip(np.rint(eda * 0.132 / 3.3 * 1024), 0, 1023).astype(int)
    a2 = np.clip(np.rint((ecg / 1000 * 1100 / 3.3 + 0.5) * 1024), 0, 1023).astype(int)
    mac = "98:D3:41:FD:4E:E8"
    header = {mac: {
        "sensor": ["ECG", "EDA"], "device name": mac,
        "column": ["nSeq", "I1", "I2", "O1", "O2", "A2", "A3"], "sync interval": 2,
        "time": "10:21:07.112", "comments": "", "device connection": f"BTH{mac}",
        "channels": [2, 3], "date": "2024-3-14", "mode": 0, "digital IO": [0, 0, 1, 1],
        "firmware version": 1281, "device": "bitalino_rev", "position": 0,
        "sampling rate": 100, "label": ["A2", "A3"], "resolution": [4, 1, 1, 1, 1, 10, 10],
        "special": [{}, {}]}}
    lines = ["# OpenSignals Text File Format", "# " + json.dumps(header), "# EndOfHeader"]
    lines += [f"{i % 16}\t1\t1\t0\t0\t{a2[i]}\t{a3[i]}\t" for i in range(N)]
    (HERE / "opensignals_bitalino_eda.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
