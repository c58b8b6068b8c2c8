"""One compact fit loop shared by teachers, students, baselines and distillation.

What is trained is described by a :class:`Task` (its modules, its training loss, its
evaluation logits, and an optional hook that runs before each optimiser step — the adaptive
feedback uses it). :func:`fit` does the rest: seeded shuffling, batches gathered by indexing
in-memory tensors, Adam, gradient clipping, mixed precision on CUDA, early stopping on a
validation split with best-state restore, and progress reporting through a callback.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotionkd import distributed as dist_
from emotionkd.config import TrainConfig  # defined there (import-light); used from here too
from emotionkd.devices import make_adam, resolve_device, tune_cpu_allocator  # noqa: F401
from emotionkd.epochlog import epoch_text
from emotionkd.errors import ConfigError, TrainingError
from emotionkd.windows import WindowDataset


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def forward(model: nn.Module, inputs: str, eeg: torch.Tensor | None, gsr: torch.Tensor):
    """Call a registry model with the inputs it takes ("eeg+gsr" or "gsr")."""
    return model(eeg, gsr) if inputs == "eeg+gsr" else model(gsr)


def model_inputs(model: nn.Module) -> str:
    """"eeg+gsr" or "gsr", from the model's registry entry."""
    inputs = getattr(model, "inputs", None)
    if inputs is None:
        from emotionkd.models.registry import model_spec

        inputs = model_spec(model.registry_name)["inputs"]
    return inputs


def class_weights(labels: np.ndarray, mode: str, n_classes: int = 2) -> torch.Tensor | None:
    """Inverse-frequency weights (mean 1 over samples) so both classes count equally."""
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    if (counts == 0).any():
        return None
    w = counts.sum() / (n_classes * counts)
    return torch.tensor(w, dtype=torch.float32)


class Task:
    """What :func:`fit` trains. Subclasses set ``model`` (selected by early stopping),
    implement :meth:`train_loss`, and may override the rest."""

    model: nn.Module
    inputs: str = "gsr"
    supports_amp: bool = True
    label_smoothing: float = 0.1

    def modules(self) -> dict[str, nn.Module]:
        """Every module whose state belongs to a snapshot (moved to the device together)."""
        return {"model": self.model}

    def parameters(self) -> list[nn.Parameter]:
        """Parameters the main optimiser updates."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def setup(self, device: torch.device, cfg: TrainConfig, train: WindowDataset) -> None:
        self.device = device
        w = class_weights(train.labels, cfg.class_weight)
        self.class_weight = None if w is None else w.to(device)
        self.label_smoothing = cfg.label_smoothing

    @property
    def batch_eeg(self) -> bool:
        """Whether training batches need the EEG (gathering it is skipped otherwise)."""
        return self.inputs == "eeg+gsr"

    def train_loss(self, eeg, gsr, y, step: int,
                   idx: np.ndarray | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of one batch and its named terms; ``idx`` are the batch's window indices in
        the training set."""
        raise NotImplementedError

    def before_step(self, eeg, gsr, y, step: int, epoch: int) -> dict[str, float]:
        """Hook run before each optimiser step (e.g. the feedback teacher update)."""
        return {}

    def eval_logits(self, eeg, gsr) -> torch.Tensor:
        out = forward(self.model, self.inputs, eeg, gsr)
        return out[0] if isinstance(out, tuple) else out


class SupervisedTask(Task):
    """Plain supervised training: cross-entropy (+ the model's head L2 penalty)."""

    def __init__(self, model: nn.Module, inputs: str | None = None) -> None:
        self.model = model
        self.inputs = inputs or model_inputs(model)

    def train_loss(self, eeg, gsr, y, step: int,
                   idx: np.ndarray | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        logits = self.eval_logits(eeg, gsr)
        ce = F.cross_entropy(logits.float(), y, weight=self.class_weight,
                             label_smoothing=self.label_smoothing)
        loss = ce
        terms = {"ce": float(ce.detach())}
        penalty = getattr(self.model, "head_l2_penalty", None)
        if penalty is not None:
            l2 = penalty()
            loss = loss + l2
            terms["l2"] = float(l2.detach())
        return loss, terms


@dataclass
class FitResult:
    """What a fit did: the epoch kept and its validation metrics, the history, the seed."""

    best_epoch: int
    epochs_run: int
    best: dict[str, float]  # validation metrics at the epoch kept
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    stopped_early: bool = False
    device: str = "cpu"
    seed: int = 0


@torch.no_grad()
def predict_proba(
    task_or_model: Task | nn.Module,
    ds: WindowDataset,
    device: torch.device | None = None,
    batch_size: int = 512,
    inputs: str | None = None,
    distributed: bool = False,
) -> np.ndarray:
    """Class probabilities (n_windows, 2) of a task's model or a bare model, in eval mode.

    ``distributed``: every rank must call it; each predicts its shard, rows are gathered."""
    if isinstance(task_or_model, Task):
        task = task_or_model
    else:
        task = SupervisedTask(task_or_model, inputs)
    dev = device or next(task.model.parameters()).device
    was_training = task.model.training
    task.model.eval()
    # under multi-process training every rank predicts its shard and the rows are gathered
    idx = dist_.shard(np.arange(len(ds))) if distributed else np.arange(len(ds))
    out = []
    for a in range(0, len(idx), batch_size):
        eeg, gsr, _ = ds.batch(idx[a:a + batch_size])
        eeg = eeg.to(dev) if eeg is not None and task.inputs == "eeg+gsr" else None
        logits = task.eval_logits(eeg, gsr.to(dev))
        out.append(torch.softmax(logits.float(), dim=1))
    task.model.train(was_training)
    local = torch.cat(out) if out else torch.zeros((0, 2), device=dev)
    if distributed:
        local = dist_.gather_rows(local, len(ds))
    return local.cpu().numpy()


def nll(y: np.ndarray, prob: np.ndarray, balanced: bool = False) -> float:
    """Mean negative log-likelihood of labels ``y`` under ``prob`` (n, 2); ``balanced``
    weights the classes equally (the mean of the per-class means), as class-balanced training
    weights them."""
    y = np.asarray(y, dtype=np.int64)
    if len(y) == 0:
        return float("nan")
    per = -np.log(np.clip(prob[np.arange(len(y)), y], 1e-7, 1.0))
    if not balanced:
        return float(per.mean())
    return float(np.mean([per[y == c].mean() for c in np.unique(y)]))


def evaluate_task(task: Task, ds: WindowDataset, device: torch.device,
                  batch_size: int, balanced: bool = False) -> dict[str, float]:
    """Validation metrics; ``loss`` is class-balanced when ``balanced`` (the training loss's
    weighting)."""
    from emotionkd.metrics import METRICS, binary_metrics

    prob = predict_proba(task, ds, device, batch_size, distributed=dist_.active())
    y = ds.labels
    scores = binary_metrics(y, prob[:, 1])
    return {"loss": nll(y, prob, balanced), **{k: scores[k] for k in METRICS}}


def lr_factor(schedule: str, step: int, total: int, warmup: float) -> float:
    """Multiplier of the base learning rate at ``step``: a linear warm-up over ``warmup``
    steps, then constant or a cosine decay to 5 % at the last step."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        span = max(total - warmup, 1)
        frac = min(max((step - warmup) / span, 0.0), 1.0)
        return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * frac))
    return 1.0


def _snapshot(task: Task) -> dict[str, dict[str, torch.Tensor]]:
    return {name: {k: v.detach().to("cpu", copy=True) for k, v in m.state_dict().items()}
            for name, m in task.modules().items()}


def _restore(task: Task, snap: dict[str, dict[str, torch.Tensor]]) -> None:
    for name, m in task.modules().items():
        m.load_state_dict(snap[name])


def _better(monitor: str, new: float, best: float) -> bool:
    if math.isnan(new):
        return False
    return new < best - 1e-6 if monitor == "loss" else new > best + 1e-6


def fit(
    task: Task,
    train: WindowDataset,
    val: WindowDataset | None,
    cfg: TrainConfig,
    progress: Callable[..., None] | None = None,
    description: str = "train",
    on_epoch: Callable[[int, Task], None] | None = None,
    seed: int | None = None,
) -> FitResult:
    """Train ``task`` on ``train``; early-stop on ``val`` and keep the best (or, with
    ``cfg.keep == "last"``, the last) epoch's state.

    Deterministic on CPU for a given seed (``seed``, else ``cfg.seed``). ``on_epoch(epoch,
    task)`` runs after each epoch's validation, before the best state is restored (for studies
    that look at every epoch's model; it must leave the modules' weights and modes as it found
    them). ``progress(completed_epochs, epochs, info=…)`` is called during each epoch and
    at its end with ``record=`` the epoch's history record. Unset lr and batch size: the
    paper recipe. Returns the history and best metrics."""
    if len(train) == 0:
        raise ConfigError("no training windows: check the subjects, window length and step")
    if task.inputs == "eeg+gsr" and not train.has_eeg:
        raise ConfigError("this model needs EEG but the dataset was loaded without it")
    cfg = cfg.for_size("paper")
    run = _Fit(task, train, val, cfg, progress, description,
               cfg.seed if seed is None else int(seed))
    for epoch in range(1, cfg.epochs + 1):
        run.train_epoch(epoch)
        run.end_epoch(epoch)
        if on_epoch is not None:
            on_epoch(epoch, task)
        run.report_epoch(epoch)
        if run.use_val and cfg.patience and run.bad_epochs >= cfg.patience:
            run.stopped = True
            break
    return run.finish()


class _Fit:
    """The state of one :func:`fit`: the device, optimiser, shuffling RNG, step counter and
    the best epoch so far. Set up in the order that makes a fit reproducible for its seed."""

    def __init__(self, task: Task, train: WindowDataset, val: WindowDataset | None,
                 cfg: TrainConfig, progress: Callable[..., None] | None, description: str,
                 seed: int) -> None:
        self.task, self.train, self.val, self.cfg = task, train, val, cfg
        self.description, self.seed = description, seed
        self.device = resolve_device(dist_.device_for_rank(cfg.device))
        tune_cpu_allocator()
        self.rank, self.world_size = dist_.world()
        self.progress = progress if self.rank == 0 else None  # only rank 0 reports
        seed_everything(seed)
        for m in task.modules().values():
            m.to(self.device)
        task.setup(self.device, cfg, train)
        self.params = task.parameters()
        self.opt = make_adam(self.params, cfg.lr, cfg.adam_eps, cfg.weight_decay)
        self.use_amp = cfg.amp and self.device.type == "cuda" and task.supports_amp
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.rng = np.random.default_rng(seed)
        self.use_val = val is not None and len(val) > 0
        self.best_value = math.inf if cfg.monitor == "loss" else -math.inf
        self.best_snap: dict[str, dict[str, torch.Tensor]] | None = _snapshot(task)
        self.best_epoch, self.best_metrics, self.bad_epochs = 0, {}, 0
        if self.use_val and getattr(task.model, "starts_fitted", False):  # the start competes
            self.best_metrics = evaluate_task(task, val, self.device, cfg.eval_batch_size,
                                              balanced=cfg.class_weight == "balanced")
            self.best_value = self.best_metrics[cfg.monitor]
        self.history: list[dict[str, float]] = []
        self.n_batches = math.ceil(len(train) / cfg.batch_size)
        self.step = 0
        self.total_steps = max(cfg.epochs * self.n_batches, 1)
        self.warm_steps = cfg.warmup_epochs * self.n_batches
        self.t0 = time.perf_counter()
        self.stopped = False
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}  # a term is averaged over the steps that reported it

    def train_epoch(self, epoch: int) -> None:
        """One pass over the shuffled training windows."""
        cfg = self.cfg
        for m in self.task.modules().values():
            m.train()
        order = self.rng.permutation(len(self.train))
        self.sums, self.counts, self.epoch_t0 = {}, {}, time.perf_counter()
        for b in range(self.n_batches):
            glob = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if len(glob) < max(2, self.world_size):  # BatchNorm cannot train on one window
                continue
            terms = self.train_step(glob, epoch, b)
            for k, v in terms.items():
                self.sums[k] = self.sums.get(k, 0.0) + v
                self.counts[k] = self.counts.get(k, 0) + 1
            if self.progress is not None and (b % 10 == 0 or b == self.n_batches - 1):
                shown = " ".join(f"{k} {v / self.counts[k]:.3f}" for k, v in self.sums.items())
                self.progress(epoch - 1 + (b + 1) / self.n_batches, cfg.epochs,
                              info=f"epoch {epoch}/{cfg.epochs} {shown}")

    def train_step(self, glob: np.ndarray, epoch: int, b: int) -> dict[str, float]:
        """One optimiser step on the global batch ``glob`` (this rank's shard of it)."""
        cfg, task, device = self.cfg, self.task, self.device
        idx = dist_.shard(glob, self.rank, self.world_size)
        # local mean losses, averaged over ranks, weighted to the global batch mean
        share = len(idx) * self.world_size / len(glob)
        eeg, gsr, y = self.train.batch(idx, eeg=task.batch_eeg)
        eeg = eeg.to(device, non_blocking=True) if eeg is not None else None
        gsr, y = gsr.to(device, non_blocking=True), y.to(device, non_blocking=True)
        if cfg.schedule != "constant" or self.warm_steps > 0:
            for group in self.opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg.schedule, self.step, self.total_steps,
                                                 self.warm_steps)
        extra = task.before_step(eeg, gsr, y, self.step, epoch)
        with torch.autocast(device_type=device.type, enabled=self.use_amp):
            loss, terms = task.train_loss(eeg, gsr, y, self.step, idx=idx)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss * share if share != 1 else loss).backward()
        dist_.average_gradients(self.params)
        if cfg.grad_clip > 0:
            self.scaler.unscale_(self.opt)
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.scaler.step(self.opt)
        self.scaler.update()
        self.step += 1
        terms = {"loss": float(loss.detach()), **terms, **extra}
        if not self.use_amp and not math.isfinite(terms["loss"]):  # AMP skips such steps
            raise TrainingError(
                f"{self.description}: the training loss became {terms['loss']} at epoch "
                f"{epoch} (batch {b + 1}); no model is saved. Lower --lr (now {cfg.lr:g}) or "
                "check the data for extreme values")
        return terms

    def end_epoch(self, epoch: int) -> None:
        """Record the epoch's training means and validation metrics; track the best epoch."""
        cfg = self.cfg
        record = {"epoch": epoch, "seconds": 0.0,  # filled in below, validation included
                  **{f"train_{k}": v / self.counts[k] for k, v in self.sums.items()}}
        if self.use_val:
            vm = evaluate_task(self.task, self.val, self.device, cfg.eval_batch_size,
                               balanced=cfg.class_weight == "balanced")
            record.update({f"val_{k}": v for k, v in vm.items()})
            value = vm[cfg.monitor]
            if _better(cfg.monitor, value, self.best_value):
                self.best_value, self.best_epoch, self.best_metrics = value, epoch, vm
                self.bad_epochs = 0
                if cfg.keep == "best":
                    self.best_snap = _snapshot(self.task)
            else:
                self.bad_epochs += 1
        else:
            self.best_epoch, self.best_snap = epoch, None
        record["seconds"] = round(time.perf_counter() - self.epoch_t0, 3)
        self.history.append(record)

    def report_epoch(self, epoch: int) -> None:
        """The epoch's line and record to ``progress`` (:mod:`emotionkd.epochlog`)."""
        if self.progress is not None:
            rec = self.history[-1]
            self.progress(epoch, self.cfg.epochs, record=rec, info=epoch_text(
                rec, self.cfg.epochs, self.best_epoch if self.use_val else None))

    def finish(self) -> FitResult:
        """Restore the epoch kept, switch to eval mode and return the result."""
        cfg, history = self.cfg, self.history
        if self.use_val and not math.isfinite(self.best_value):
            raise TrainingError(
                f"{self.description}: no epoch gave a finite validation {cfg.monitor} in "
                f"{len(history)} epoch(s), so the model never trained; no model is saved. "
                f"Lower --lr (now {cfg.lr:g}) or check the data")
        if cfg.keep == "last" and history:
            self.best_epoch, self.best_snap = len(history), None
            self.best_metrics = {k[4:]: v for k, v in history[-1].items()
                                 if k.startswith("val_")}
        if self.best_snap is not None:
            _restore(self.task, self.best_snap)
        for m in self.task.modules().values():
            m.eval()
        return FitResult(best_epoch=self.best_epoch, epochs_run=len(history),
                         best=self.best_metrics, history=history,
                         seconds=time.perf_counter() - self.t0, stopped_early=self.stopped,
                         device=str(self.device), seed=self.seed)


def clone_module(m: nn.Module) -> nn.Module:
    """A deep copy (used to keep an unmodified teacher next to an adapted one)."""
    return copy.deepcopy(m)


def fit_model(
    name: str,
    train: WindowDataset,
    val: WindowDataset | None,
    cfg: TrainConfig,
    architecture: dict[str, Any] | None = None,
    seed: int | None = None,
    progress: Callable[..., None] | None = None,
) -> tuple[nn.Module, dict[str, Any], FitResult]:
    """Build registry model ``name`` for the windows' shape — with the ``[model]``
    ``architecture`` where the registry says it is sized — its weights drawn after seeding
    with ``seed`` (else ``cfg.seed``), and fit it supervised: every teacher and deep baseline,
    in ``train-teacher`` and in every fold of ``evaluate``. Returns the model, its config dict
    and the fit result."""
    from emotionkd.models.registry import build_model, config_for

    seed = cfg.seed if seed is None else int(seed)
    model_config = config_for(name, train.fs, train.window_s, train.n_eeg, architecture)
    torch.manual_seed(seed)
    model = build_model(name, model_config)
    if hasattr(model, "prepare_fit"):  # e.g. an anchored teacher's fitted regression
        model.prepare_fit(train, val)
    if getattr(model, "lr_scale", 1.0) != 1.0:  # e.g. an anchored teacher's deep path
        cfg = cfg.for_size("paper")
        cfg = replace(cfg, lr=cfg.lr * model.lr_scale)
    res = fit(SupervisedTask(model), train, val, cfg, progress=progress, description=name,
              seed=seed)
    return model, model_config, res


def score_model(model: nn.Module, ds: WindowDataset, batch_size: int = 512) -> dict[str, float]:
    """Binary metrics of ``model`` on ``ds`` (CPU or the model's device)."""
    from emotionkd.metrics import binary_metrics

    prob = predict_proba(model, ds, batch_size=batch_size)
    return binary_metrics(ds.labels, prob[:, 1])
