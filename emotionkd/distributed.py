"""Multi-process (multi-node) data-parallel training with ``torch.distributed``.

Run any training command under ``torchrun`` and it trains data-parallel:

    torchrun --nproc-per-node 4 -m emotionkd train-teacher --data deap.h5 --out t.pt

How it works (the same algorithm as ``DistributedDataParallel``):

* :func:`init_from_env` starts the process group from torchrun's environment (NCCL on GPUs,
  gloo on CPUs) and pins each rank to its local GPU;
* every rank shuffles the windows identically (same seed) and takes its shard of every global
  batch, so the global batch size is the configured ``--batch-size``;
* after the backward pass the gradients are averaged across ranks with one bucketed
  all-reduce, so every rank takes the same optimiser step and the replicas stay identical;
* BatchNorm statistics are computed over the *global* batch (a differentiable all-reduce of
  the per-rank sums), so training matches single-process training with the same global batch;
* validation predictions are sharded and all-gathered, so every rank computes the same
  metrics and takes the same early-stopping decision;
* the adaptive feedback runs its pilot step on each rank's shard (local BatchNorm statistics,
  because the pilot needs a second derivative) and averages the teacher's meta-gradient across
  ranks before the teacher's step, so the teacher replicas stay identical too;
* only rank 0 shows progress and writes files.

The modules are not wrapped in ``DistributedDataParallel`` itself: its autograd hooks fire on
``.backward()`` only, while the feedback computes gradients with ``torch.autograd.grad`` and a
functional pilot copy; synchronising explicitly keeps one code path for every model and task.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TypeVar

import torch
import torch.distributed as dist

from emotionkd.models import kernels

_SYNC_BN = {"enabled": True}
T = TypeVar("T")
#: what :func:`shard` takes and gives: anything sliced with a step (an index array, a list)
Sliceable = TypeVar("Sliceable")


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def active() -> bool:
    return world()[1] > 1


def init_from_env() -> tuple[int, int]:
    """Initialise the process group when launched by torchrun (WORLD_SIZE > 1)."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1 or not dist.is_available() or dist.is_initialized():
        return world()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return world()


def device_for_rank(requested: str) -> str:
    """With several ranks on CUDA, each uses its own GPU."""
    if active() and torch.cuda.is_available() and requested in ("auto", "cuda"):
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return requested


def shard(indices: Sliceable, rank: int | None = None, size: int | None = None) -> Sliceable:
    """This rank's share of a global batch (every size-th element, starting at rank)."""
    r, s = world() if rank is None else (rank, size)
    return indices[r::s]


def average_gradients(params: Sequence[torch.nn.Parameter]) -> None:
    """All-reduce (mean) the gradients of ``params`` in one flat bucket."""
    if not active():
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world()[1]
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset:offset + n].view_as(g))
        offset += n


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Differentiable sum across ranks (identity on one process)."""
    if not active():
        return t
    import warnings

    from torch.distributed.nn.functional import all_reduce

    with warnings.catch_warnings():  # deprecated alias; its replacement is private API
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(t)


def sync_batchnorm_enabled() -> bool:
    return active() and _SYNC_BN["enabled"]


# the layers' BatchNorm statistics cover the global batch whenever a process group is active
kernels.use_global_statistics(sync_batchnorm_enabled, all_reduce_sum)


@contextlib.contextmanager
def local_batchnorm() -> Iterator[None]:
    """Use each rank's own batch statistics inside the block (the feedback pilot step)."""
    old = _SYNC_BN["enabled"]
    _SYNC_BN["enabled"] = False
    try:
        yield
    finally:
        _SYNC_BN["enabled"] = old


def gather_rows(t: torch.Tensor, total: int) -> torch.Tensor:
    """All-gather per-rank rows that were sharded with :func:`shard` and restore the original
    order (row i of the result is global row i)."""
    if not active():
        return t
    rank, size = world()
    per = -(-total // size)
    pad = torch.zeros((per - t.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device)
    buf = [torch.empty((per, *t.shape[1:]), dtype=t.dtype, device=t.device)
           for _ in range(size)]
    dist.all_gather(buf, torch.cat([t, pad]))
    out = torch.empty((total, *t.shape[1:]), dtype=t.dtype, device=t.device)
    for r in range(size):
        n = len(range(r, total, size))
        out[r::size] = buf[r][:n]
    return out


def barrier() -> None:
    if active():
        dist.barrier()


def broadcast_object(obj: T) -> T:
    """Rank 0's value of ``obj`` on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
