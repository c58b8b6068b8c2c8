"""What a predictor knows about a model's inputs and outputs (:class:`ModelMeta`), read from a
checkpoint or from the metadata ``emotionkd export`` embeds in ONNX and TorchScript files
(format ``emotionkd-export``), every field checked as it is read (:mod:`emotionkd.ondisk`)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from emotionkd.choices import BASELINE_MODES, NORMS, TIES
from emotionkd.errors import CheckpointError
from emotionkd.ondisk import Source
from emotionkd.validation import version_text

#: the metadata that ``emotionkd export`` embeds in exported files (read here)
EXPORT_FORMAT = "emotionkd-export"
EXPORT_FORMAT_VERSION = 2
#: the entries of the export metadata's predict section without a default
EXPORT_REQUIRED = ("sampling_rate", "window_samples", "window_s", "step_s", "norm", "target",
                   "threshold", "tie", "class_names")


@dataclass
class ModelMeta:
    """What a predictor needs to know about the model's inputs and outputs."""

    sampling_rate: float
    window_samples: int
    window_s: float
    step_s: float
    norm: str
    target: str
    threshold: float
    tie: str
    class_names: list[str]
    gsr_mean: float | None = None  # training statistics for norm == "train"
    gsr_std: float | None = None
    model: str = ""
    emotionkd_version: str = ""
    #: training baseline: subtract (each trial relative to its pre-stimulus mean) | none | keep
    baseline: str = "subtract"
    baseline_s: float | None = None  # length of the training pre-stimulus baseline (s)

    @classmethod
    def from_checkpoint(cls, ck: dict[str, Any], version: str = "") -> ModelMeta:
        """From a loaded checkpoint (its data specification and preprocessing record)."""
        from emotionkd.checkpoint import CHECKPOINT_FIX, data_spec

        d = data_spec(ck)
        fs, target = float(d["sampling_rate"]), d["target"]
        stats, pre = d.get("norm_stats") or {}, d.get("preprocessing") or {}
        out = cls(
            sampling_rate=fs, window_samples=int(d["window_samples"]),
            window_s=int(d["window_samples"]) / fs, step_s=round(d["step"] * fs) / fs,
            norm=d["norm"], target=target, threshold=d["threshold"], tie=d["tie"],
            class_names=list(d.get("class_names") or [f"low {target}", f"high {target}"]),
            gsr_mean=stats.get("gsr_mean"), gsr_std=stats.get("gsr_std"), model=ck["model"],
            emotionkd_version=version or ck["emotionkd_version"],
            baseline=str(pre.get("baseline", "subtract")),
            baseline_s=pre.get("baseline_s"),
        )
        out.check(Source(ck.get("_path", "checkpoint"), CHECKPOINT_FIX, CheckpointError))
        return out

    @classmethod
    def from_export(cls, meta: dict[str, Any], source: str = "the exported file") -> ModelMeta:
        """From the metadata embedded by ``emotionkd export``."""
        src = Source(source, "export the checkpoint again with 'emotionkd export'",
                     CheckpointError)
        meta = src.mapping(meta, "the emotionkd metadata")
        if meta.get("format_version") != EXPORT_FORMAT_VERSION:
            raise CheckpointError(
                f"{source}: exported with metadata version "
                f"{version_text(meta.get('format_version', 1))}; "
                f"emotionkd reads version {EXPORT_FORMAT_VERSION}: export the checkpoint again")
        pred = src.mapping(meta.get("predict"), "the metadata's predict section",
                           EXPORT_REQUIRED)
        known = {f.name for f in fields(cls)}
        out = cls(**{k: v for k, v in pred.items() if k in known})
        out.check(src)
        return out

    def check(self, src: Source) -> None:
        """Check every field's type and range (a damaged checkpoint or export metadata)."""
        self.sampling_rate = src.number(self.sampling_rate, "sampling_rate", low=0,
                                        low_open=True, high=1e6)
        self.window_samples = src.number(self.window_samples, "window_samples", integer=True,
                                         low=1)
        self.window_s = src.number(self.window_s, "window_s", low=0, low_open=True)
        self.step_s = src.number(self.step_s, "step_s", low=0, low_open=True)
        src.text(self.norm, "norm", NORMS)
        src.text(self.target, "target", empty=False)
        self.threshold = src.number(self.threshold, "threshold")
        src.text(self.tie, "tie", TIES)
        self.class_names = src.texts(self.class_names, "class_names", length=2, empty=False)
        if self.gsr_mean is not None:
            self.gsr_mean = src.number(self.gsr_mean, "gsr_mean")
        if self.gsr_std is not None:
            self.gsr_std = src.number(self.gsr_std, "gsr_std", low=0, low_open=True)
        src.text(self.baseline, "baseline", BASELINE_MODES)
        if self.baseline_s is not None:
            self.baseline_s = src.number(self.baseline_s, "baseline_s", low=0)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_metadata(text: Any, path: Path) -> Any:
    """The emotionkd metadata embedded in an exported file, parsed."""
    return Source(path, "export the checkpoint again with 'emotionkd export'",
                  CheckpointError).json(text, "the emotionkd metadata")
