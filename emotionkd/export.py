"""Export a checkpoint to ONNX or TorchScript, with metadata and a numerical parity check.

The exported graph maps inputs to logits (students: ``gsr`` (batch, 1, window); teachers:
``eeg`` (batch, C, window) and ``gsr``) with a dynamic batch axis. The metadata needed to use
the model on new recordings — sampling rate, window, normalisation (with training statistics
when ``norm = "train"``), target, class names, emotionkd version — is embedded: as ONNX
``metadata_props["emotionkd"]`` (JSON) or as the TorchScript extra file ``emotionkd.json``.

The exported graph is the trained model folded for inference
(:mod:`emotionkd.models.inference`: attention projections, score-block BatchNorms and the
classifier folded by exact algebra, token counts frozen; docs/deployment.md counts the FLOPs
saved). After writing, the exported model is run (ONNX Runtime for ONNX) next to the
unmodified PyTorch model on the same random inputs, at batch sizes 1, 8 and 3; if any output
differs by more than the tolerance (1e-4 by default) the export fails and no file is left
behind.

A model card (:mod:`emotionkd.modelcard`) is written next to the exported file, as
``<file>.md``, under the same overwrite rule.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emotionkd.choices import EXPORT_FORMATS, EXPORT_OPSET, EXPORT_TOLERANCE
from emotionkd.errors import CheckpointError, EmotionKDError
from emotionkd.outputs import commit_temp, temp_name, write_error, write_text_atomic
from emotionkd.validation import check_choice, check_number
from emotionkd.version import __version__

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

#: runs an exported model on numpy inputs (the parity check)
Runner = Callable[[list[np.ndarray]], np.ndarray]
#: the opsets the TorchScript-based exporter (``torch.onnx.export(dynamo=False)``) writes
OPSETS = (EXPORT_OPSET["low"], EXPORT_OPSET["high"])


def check_export(model_path: str | os.PathLike, out: str | os.PathLike, overwrite: bool,
                 tolerance: float, opset: int, card: bool = True) -> None:
    """Before any work: ``--tolerance`` and ``--opset`` in range, and ``out`` (and its model
    card) a writable file that is not the checkpoint (emotionkd.outputs.check_output), with
    room for the export."""
    from emotionkd.outputs import check_free_space, check_output

    check_number(tolerance, "--tolerance", **EXPORT_TOLERANCE)
    check_number(opset, "--opset", integer=True, **EXPORT_OPSET)
    check_output(out, overwrite=overwrite, inputs=[model_path])
    if card:
        from emotionkd.modelcard import card_path

        check_output(card_path(Path(out)), overwrite=overwrite, inputs=[model_path, out])
    if Path(model_path).is_file():  # the exported graph is about the checkpoint's size
        check_free_space(out, 3 * Path(model_path).stat().st_size)


class ExportParityError(EmotionKDError):
    """The exported model's outputs differ from PyTorch's beyond the tolerance."""


@dataclass
class ExportReport:
    path: Path
    fmt: str
    max_abs_diff: float
    tolerance: float
    size_bytes: int
    metadata: dict[str, Any]
    card: Path | None = None


def export_metadata(ck: dict[str, Any]) -> dict[str, Any]:
    """The JSON embedded in exported files (format ``emotionkd-export``, version 2): what the
    model takes and returns, the predictor's input specification (``predict``) and the
    checkpoint's configuration and data entries."""
    from emotionkd.models.registry import model_spec
    from emotionkd.predict import EXPORT_FORMAT, EXPORT_FORMAT_VERSION, ModelMeta

    d = ck["data"]
    inputs = model_spec(ck["model"])["inputs"]
    shapes = {"gsr": ["batch", 1, int(d["window_samples"])]}
    if inputs == "eeg+gsr":
        shapes = {"eeg": ["batch", len(d["eeg_channels"]), int(d["window_samples"])], **shapes}
    return {
        "format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION,
        "emotionkd_version": __version__, "role": ck["role"], "model": ck["model"],
        "model_config": ck["model_config"], "inputs": list(shapes), "input_shapes": shapes,
        "output": "logits (batch, 2)",
        "predict": ModelMeta.from_checkpoint(ck, __version__).as_dict(),
        "config": ck["config"], "data": d,
    }


def _wrapper(model: nn.Module) -> nn.Module:
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, m: torch.nn.Module) -> None:
            super().__init__()
            self.m = m

        def forward(self, *x: torch.Tensor) -> torch.Tensor:
            return self.m(*x)[0]

    return LogitsOnly(model).eval()


def _examples(meta: dict[str, Any], batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    import torch

    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, *meta["input_shapes"][name][1:], generator=g)
                 for name in meta["inputs"])


def export_model(
    model_path: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike,
    tolerance: float = 1e-4,
    opset: int = 17,
    overwrite: bool = False,
    card: bool = True,
    evaluation: str | os.PathLike | None = None,
) -> ExportReport:
    """Export a checkpoint and write its model card (``card``; ``evaluation``: an evaluation
    run folder whose fold results go into the card); see the module docstring."""
    from emotionkd.checkpoint import build_from_checkpoint, load_checkpoint
    from emotionkd.modelcard import card_path, model_card, read_evaluation
    from emotionkd.models.inference import fold_for_inference

    check_choice(fmt, "--format", EXPORT_FORMATS)
    check_export(model_path, out, overwrite, tolerance, opset, card)
    out = Path(out)
    card_out = card_path(out) if card else None
    ev = read_evaluation(evaluation) if evaluation is not None else None
    ck = load_checkpoint(model_path)
    text = model_card(ck, None, ev) if card_out is not None else ""  # fails before writing
    model = build_from_checkpoint(ck)
    meta = export_metadata(ck)
    wrapped = _wrapper(model)  # the reference: the model exactly as trained
    # the exported graph: attention, score blocks and classifier folded (exact algebra)
    folded = _wrapper(fold_for_inference(model, _examples(meta, 2, 0)))
    tmp = temp_name(out)  # unique and created exclusively beside out (emotionkd.outputs)
    try:
        if fmt == "onnx":
            _export_onnx(folded, meta, tmp, opset)
            run = _onnx_runner(tmp)
        else:
            run = _export_torchscript(folded, meta, tmp)
        worst = _parity(wrapped, run, meta, out)
        if worst > tolerance:
            raise ExportParityError(
                f"{out}: exported {fmt} outputs differ from PyTorch by {worst:.3g} "
                f"(> {tolerance:g}); nothing was written. Try another --opset or report a bug"
            )
        commit_temp(tmp, out)  # fsync, then rename onto out
    except (OSError, RuntimeError) as exc:  # a full disk while torch or onnx writes
        err = write_error(exc, out)
        if err is None:
            raise
        raise err from None
    finally:
        if tmp.exists():
            tmp.unlink()
    rep = ExportReport(out, fmt, worst, tolerance, out.stat().st_size, meta)
    if card_out is not None:
        text = model_card(ck, {"path": out.name, "format": fmt, "max_abs_diff": worst,
                               "tolerance": tolerance}, ev)
        write_text_atomic(card_out, text, overwrite=overwrite, inputs=[model_path, out],
                          lock=False)
        rep.card = card_out
    return rep


def _parity(wrapped: nn.Module, run: Runner, meta: dict[str, Any], out: Path) -> float:
    """The largest absolute difference between the exported model (``run``) and PyTorch's
    on random inputs of three batch sizes."""
    import torch

    worst = 0.0
    for batch, seed in ((1, 0), (8, 1), (3, 2)):
        x = _examples(meta, batch, seed)
        with torch.no_grad():
            ref = wrapped(*x).numpy()
        got = run([t.numpy() for t in x])
        if got.shape != ref.shape:
            raise ExportParityError(f"{out}: exported output shape {got.shape} differs from "
                                    f"PyTorch's {ref.shape} at batch {batch}")
        worst = max(worst, float(np.max(np.abs(got - ref))))
    return worst


def _export_onnx(wrapped: nn.Module, meta: dict[str, Any], path: Path, opset: int) -> None:
    import torch

    from emotionkd.errors import require_module

    onnx = require_module("onnx", "export", "ONNX export")
    names = meta["inputs"]
    example = _examples(meta, 2, 0)
    dyn = {n: {0: "batch"} for n in names}
    dyn["logits"] = {0: "batch"}
    try:
        torch.onnx.export(wrapped, example, str(path), input_names=names,
                          output_names=["logits"], dynamic_axes=dyn, opset_version=opset,
                          dynamo=False)
    except Exception as exc:  # exporter errors are many types
        raise CheckpointError(f"ONNX export failed: {type(exc).__name__}: {exc}") from None
    proto = onnx.load(str(path))
    entry = proto.metadata_props.add()
    entry.key, entry.value = "emotionkd", json.dumps(meta)
    proto.producer_name = "emotionkd"
    proto.producer_version = __version__
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _onnx_runner(path: Path) -> Runner:
    from emotionkd.errors import require_module

    ort = require_module("onnxruntime", "export", "ONNX parity checks")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(xs: list[np.ndarray]) -> np.ndarray:
        return sess.run(None, dict(zip(names, xs)))[0]

    return run


def _export_torchscript(wrapped: nn.Module, meta: dict[str, Any], path: Path) -> Runner:
    import torch

    example = _examples(meta, 2, 0)
    with torch.no_grad():
        traced = torch.jit.trace(wrapped, example, check_trace=False)
    torch.jit.save(traced, str(path), _extra_files={"emotionkd.json": json.dumps(meta)})
    loaded = torch.jit.load(str(path), map_location="cpu")

    def run(xs: list[np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            return loaded(*[torch.from_numpy(x) for x in xs]).numpy()

    return run


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The emotionkd metadata of an exported ONNX or TorchScript file."""
    p = Path(path)
    if p.suffix.lower() == ".onnx":
        from emotionkd.errors import require_module

        onnx = require_module("onnx", "export", "Reading ONNX metadata")
        props = {e.key: e.value for e in onnx.load(str(p), load_external_data=False)
                 .metadata_props}
        if "emotionkd" not in props:
            raise CheckpointError(f"{p}: ONNX file without emotionkd metadata")
        return json.loads(props["emotionkd"])
    import torch

    extra = {"emotionkd.json": ""}
    torch.jit.load(str(p), map_location="cpu", _extra_files=extra)
    if not extra["emotionkd.json"]:
        raise CheckpointError(f"{p}: TorchScript file without emotionkd metadata")
    return json.loads(extra["emotionkd.json"])
