"""Devices and the optimiser every emotionkd loop uses: the device a run trains on, Adam
(fused where it can be) and the CPU allocator's settings for training steps."""

from __future__ import annotations

import functools
import sys

import torch
from torch import nn

from emotionkd.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """"auto" → CUDA when available, else CPU; an unavailable explicit device is an error."""
    if name in ("auto", "", None):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"--device {name!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {name}: CUDA is not available on this machine; use cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                          f"GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {name}: MPS is not available on this machine; use cpu")
    return dev


def make_adam(params: list[nn.Parameter], lr: float, eps: float = 1e-7,
              weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam as every emotionkd loop uses it: the fused kernel on CPU and CUDA (one pass over
    all parameters instead of a dozen small operations per tensor; same update rule)."""
    params = list(params)
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point
                                 for p in params)
    return torch.optim.Adam(params, lr=lr, eps=eps, weight_decay=weight_decay,
                            fused=fused or None)


@functools.cache
def tune_cpu_allocator() -> bool:
    """Keep freed memory in the process heap for reuse (glibc on Linux; else a no-op).

    A training step allocates and frees tens of megabytes of activations. With glibc's
    defaults those blocks go back to the operating system at every free and come back as
    fresh pages (page faults and system time at every step; docs/method.md has the
    measurement). Raising the mmap threshold to its maximum (32 MiB) and the trim threshold to
    1 GiB keeps them; the process's resident memory then stays near its peak instead of
    shrinking between steps.
    Called by :func:`fit` (once per process: the result is cached); returns whether the
    settings were applied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): leave the allocator alone
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
    return bool(libc.mallopt(m_mmap_threshold, 32 * 2**20)) and bool(
        libc.mallopt(m_trim_threshold, 2**30))
