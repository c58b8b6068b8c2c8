"""Run reference_tf.py in another interpreter (one with tensorflow-cpu) as a turn-taking child.

train_throughput.py and inference_latency.py use it for ``--reference-python``: the child
builds and warms up the reference Keras models, then measures one round per request while the
parent waits, so the two frameworks never share the cores and see the machine at the same
moments.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


class ReferenceTF:
    """``python reference_tf.py --serve ARGS…`` in a child process; :meth:`round` runs one."""

    def __init__(self, python: str, *args: str) -> None:
        script = Path(__file__).with_name("reference_tf.py")
        try:
            self.proc = subprocess.Popen(
                [python, str(script), "--serve", *args], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        except OSError as e:
            raise SystemExit(f"--reference-python {python}: cannot run it ({e.strerror}); "
                             "give the python of an environment with tensorflow-cpu") from None
        self.header = self._read()  # sent once the models are built, checked and warmed up

    def _read(self) -> dict[str, Any]:
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            raise SystemExit(f"reference_tf.py exited with status {self.proc.wait()}; run it "
                             "directly with that interpreter to see why")
        return json.loads(line)

    def round(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("round\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait()
