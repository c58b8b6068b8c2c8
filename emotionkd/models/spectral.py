"""A phase-invariant spectral path for the teacher: per-channel log band power.

The conv stem of EmotionNet mixes all EEG channels in its first (spatial) convolution before
any power is taken. A cue whose phase differs between channels — rhythms at individual
frequencies that are not coherent across the scalp — cancels in that mix, and the reference
architecture cannot recover it (docs/method.md, "The teacher across world families").
Log band power per channel is the field's standard input for DEAP (differential entropy of a
Gaussian band signal is ½·log(2πe·σ²), the same quantity up to constants); this path computes
it inside the network, so that the teacher gets it with every window, exported models
included (it is matrix products and a log, which ONNX and TorchScript carry).

Welch's method with fixed weights: 1-s Hann segments with 50 % overlap, the periodogram by
a real DFT written as two matrix products, the mean over segments, bins summed per band.
The features are standardised by BatchNorm (subjects and channels differ in gain) and read
by one linear layer whose logits are added to the conv-transformer's.

The anchored path (the default) also computes the ``eeg-features`` yardstick's five
skin-conductance features (:class:`SkinConductanceFeatures`), so that its fitted read-out is
that whole yardstick, not only its EEG half.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

#: the bands (Hz) of ``spectral = "bands"``: theta, alpha, beta, gamma as DEAP studies use them
BANDS: tuple[tuple[float, float], ...] = ((4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))
#: valid values of ``spectral``: no spectral path (the reference), log band powers learned with
#: the rest, or log band powers read by a fitted logistic regression that the deep path adds to
SPECTRAL = ("none", "bands", "anchored")


def band_matrix(fs: float, nperseg: int, bands: tuple[tuple[float, float], ...] = BANDS
                ) -> np.ndarray:
    """(bins, bands) 0/1 matrix: which one-sided DFT bins of an ``nperseg`` segment fall in
    each band [low, high) (a band with no bin takes the nearest bin)."""
    freqs = np.arange(nperseg // 2 + 1) * fs / nperseg
    m = np.zeros((len(freqs), len(bands)))
    for j, (lo, hi) in enumerate(bands):
        inside = (freqs >= lo) & (freqs < hi)
        if not inside.any():
            inside[int(np.argmin(np.abs(freqs - (lo + hi) / 2)))] = True
        m[inside, j] = 1.0
    return m


def dft_matrices(fs: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """(nperseg, bins) Hann-windowed cosine and sine matrices whose squared products sum to
    the one-sided power spectral density of a segment (scipy.signal.welch's 'density')."""
    t = np.arange(nperseg)
    hann = 0.5 - 0.5 * np.cos(2 * math.pi * t / nperseg)  # periodic, as scipy's
    k = np.arange(nperseg // 2 + 1)
    angle = 2 * math.pi * t[:, None] * k[None, :] / nperseg
    # double every bin but DC and (for even segments) Nyquist
    scale = np.full(len(k), 2.0)
    scale[0] = 1.0
    if nperseg % 2 == 0:
        scale[-1] = 1.0
    norm = np.sqrt(scale / (fs * (hann * hann).sum()))
    return hann[:, None] * np.cos(angle) * norm, hann[:, None] * np.sin(angle) * norm


class LogBandPower(nn.Module):
    """(B, C, T) → (B, C, bands): log of Welch band power (µV² per band, one-sided).

    Fixed, not learned: a Hann window of ``segment_s`` seconds (1 s; the ``eeg-features``
    yardstick's 2 s for an anchored path), hop half a segment, periodograms by DFT matrices,
    averaged over segments; windows shorter than one segment use a single segment of their
    whole length.
    """

    def __init__(self, fs: float, n_samples: int,
                 bands: tuple[tuple[float, float], ...] = BANDS, segment_s: float = 1.0) -> None:
        super().__init__()
        nperseg = min(n_samples, max(8, int(round(segment_s * fs))))
        self.nperseg, self.hop = nperseg, max(1, nperseg // 2)
        self.n_segments = (n_samples - nperseg) // self.hop + 1
        cos, sin = dft_matrices(fs, nperseg)
        width = band_matrix(fs, nperseg, bands) * fs / nperseg
        # constants computed with numpy (models are also built on the meta device) and
        # rebuilt from the config, so not saved in checkpoints (persistent=False)
        for name, value in (("cos", cos), ("sin", sin), ("bands", width)):
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32),
                                 persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, C, S, nperseg); slices rather than Tensor.unfold, which ONNX export mis-shapes
        segs = torch.stack([x[..., i * self.hop:i * self.hop + self.nperseg]
                            for i in range(self.n_segments)], dim=-2)
        segs = segs - segs.mean(-1, keepdim=True)  # scipy's detrend='constant'
        power = (segs @ self.cos) ** 2 + (segs @ self.sin) ** 2  # (B, C, S, bins)
        return torch.log(power.mean(-2) @ self.bands + 1e-6)


def lowpass_matrix(fs: float, n: int) -> np.ndarray:
    """(n, n) matrix ``F`` with ``g @ F`` = :func:`emotionkd.features.gsr_features`' smoothing of
    rows ``g`` of ``n`` samples (a 1-Hz Butterworth low-pass run forwards and backwards; it is
    linear, so its matrix is the filter applied to the identity); the identity where that
    function does not smooth."""
    if n < 16 or fs <= 2.5:
        return np.eye(n)
    from scipy import signal

    sos = signal.butter(2, 1.0, btype="lowpass", fs=fs, output="sos")
    return np.ascontiguousarray(signal.sosfiltfilt(sos, np.eye(n), axis=-1,
                                                   padlen=min(n - 1, 15)))


class SkinConductanceFeatures(nn.Module):
    """(B, 1, T) → (B, 5): :func:`emotionkd.features.gsr_features` in torch — tonic level and
    slope of the smoothed signal, then the number of rising runs whose total rise reaches
    ``scr_threshold`` (skin-conductance responses), their mean and their largest rise.

    Fixed, not learned, and exportable: the smoothing and the slope are matrix products; each
    rising run's rise is a ``scatter_add`` of the positive first differences by run number
    (a cumulative count of run starts). The smoothing matrix holds T² values: 1 MiB for a
    4-s window at 128 Hz, but 0.9 GiB for 60 s at 256 Hz (a banded filter would scale
    linearly; not needed at the windows the models are built for)."""

    def __init__(self, fs: float, n_samples: int, scr_threshold: float = 0.05) -> None:
        super().__init__()
        self.threshold = float(scr_threshold)
        t = (np.arange(n_samples) - (n_samples - 1) / 2.0) / fs
        for name, value in (("smooth", lowpass_matrix(fs, n_samples)),
                            ("t", t / max(float(t @ t), 1e-12))):
            self.register_buffer(name, torch.tensor(value, dtype=torch.float32),
                                 persistent=False)
        # run numbers 0..T-2 as a constant, so that traced graphs hold no shape arithmetic
        self.register_buffer("runs", torch.arange(max(n_samples - 1, 0))[None],
                             persistent=False)

    def forward(self, gsr: torch.Tensor) -> torch.Tensor:
        g = gsr.flatten(1) @ self.smooth  # (B, T)
        level, slope = g.mean(1), g @ self.t
        d = g[:, 1:] - g[:, :-1]
        up = d > 0
        start = up & torch.cat([torch.ones_like(up[:, :1]), ~up[:, :-1]], dim=1)
        run = (torch.cumsum(start.long(), dim=1) - 1).clamp(min=0)  # the run each sample is in
        rise = torch.zeros_like(d).scatter_add(1, run, torch.where(up, d, torch.zeros_like(d)))
        exists = self.runs < start.sum(1, keepdim=True)
        ok = exists & (rise >= self.threshold)
        kept = torch.where(ok, rise, torch.zeros_like(rise))
        count = ok.sum(1).to(g.dtype)
        mean = kept.sum(1) / count.clamp(min=1.0)
        return torch.stack([level, slope, count, mean, kept.amax(1)], dim=1)


class Standardise(nn.Module):
    """(B, F) → (x − mean) / scale with fixed statistics (set by :meth:`SpectralPath.anchor`
    from the training windows; saved in checkpoints)."""

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.scale


class FixedLinear(nn.Module):
    """A linear read-out whose weights are fitted, not learned: buffers (saved in checkpoints,
    counted as stored values, never updated by an optimiser or the feedback), zero until
    :meth:`SpectralPath.anchor` sets them."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("weight", torch.zeros(out_features, in_features))
        self.register_buffer("bias", torch.zeros(out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.linear(x, self.weight, self.bias)


class SpectralPath(nn.Module):
    """(EEG (B, C, T), GSR (B, 1, T)) → logits (B, n_classes) from standardised features.

    ``anchored``: the ``eeg-features`` yardstick's features — per-channel log band power
    (2-s Welch segments) and the five skin-conductance features — with fixed standardisation
    and a read-out that :meth:`anchor` sets to the yardstick's logistic regression fitted on
    the training windows (:class:`FixedLinear`: zero until then, never trained by gradient;
    no dropout: the regression is regularised by its C); otherwise the EEG's band power alone
    (1-s segments), BatchNorm and dropout, learned with the rest of the network."""

    def __init__(self, n_channels: int, fs: float, n_samples: int, n_classes: int,
                 dropout: float, anchored: bool = False, scr_threshold: float = 0.05) -> None:
        super().__init__()
        self.power = LogBandPower(fs, n_samples, segment_s=2.0 if anchored else 1.0)
        self.gsr = SkinConductanceFeatures(fs, n_samples, scr_threshold) if anchored else None
        n_features = n_channels * self.power.bands.shape[1] + (5 if anchored else 0)
        self.anchored = anchored
        self.norm = Standardise(n_features) if anchored else nn.BatchNorm1d(n_features)
        self.dropout = nn.Dropout(0.0 if anchored else dropout)
        self.linear = FixedLinear(n_features, n_classes) if anchored else nn.Linear(
            n_features, n_classes)

    def raw_features(self, eeg: torch.Tensor, gsr: torch.Tensor | None) -> torch.Tensor:
        """(B, features) before standardisation: band powers, then the GSR features."""
        x = self.power(eeg).flatten(1)
        if self.gsr is None:
            return x
        if gsr is None:
            raise ValueError("the anchored spectral path also reads the GSR")
        return torch.cat([x, self.gsr(gsr)], dim=1)

    def forward(self, eeg: torch.Tensor, gsr: torch.Tensor | None = None) -> torch.Tensor:
        z = self.norm(self.raw_features(eeg, gsr))
        return self.linear(self.dropout(z))

    @torch.no_grad()
    def features(self, ds: Any, batch: int = 256) -> np.ndarray:
        """(windows, features) of a WindowDataset's windows, before standardisation."""
        device = self.linear.weight.device
        out = []
        for a in range(0, len(ds), batch):
            eeg, gsr, _ = ds.batch(np.arange(a, min(a + batch, len(ds))))
            out.append(self.raw_features(eeg.to(device), gsr.to(device)).cpu().numpy())
        return np.vstack(out) if out else np.zeros((0, self.linear.in_features))

    @torch.no_grad()
    def anchor(self, train: Any, val: Any | None) -> dict[str, float]:
        """Set the standardisation to the training windows' statistics and the read-out to the
        ``eeg-features`` yardstick's regression (:func:`~emotionkd.models.classical.
        choose_logreg`: class-balanced, C from its grid by balanced accuracy on the validation
        windows) on the features this path computes (the yardstick's, in float32)."""
        return fit_read_out(self.norm, self.linear, self.features(train), train.labels,
                            self.features(val) if _usable(val) else None,
                            val.labels if _usable(val) else None)


def _usable(val: Any | None) -> bool:
    return val is not None and len(val) > 0 and len(np.unique(val.labels)) > 1


@torch.no_grad()
def fit_read_out(norm: Standardise, linear: FixedLinear, x: np.ndarray, labels: Any,
                 xv: np.ndarray | None, yv: Any, soft: np.ndarray | None = None
                 ) -> dict[str, float]:
    """Fit a fixed read-out: ``norm`` to the statistics of ``x`` and ``linear`` to the
    yardsticks' logistic regression of the labels on the standardised ``x`` (C by balanced
    accuracy on ``(xv, yv)``). ``soft`` (one probability of class 1 per row) replaces the
    hard labels by soft ones — each row twice, weighted q and 1 − q, classes balanced by
    their soft totals — so that the regression imitates those probabilities."""
    from emotionkd.models.classical import FeatureModelConfig, choose_logreg, standardiser

    y = np.asarray(labels)
    if len(np.unique(y)) < 2 or linear.out_features != 2:
        return {}  # nothing to anchor to: the read-out keeps its initialisation
    mean, sd = standardiser(x)
    xs = (x - mean) / sd
    xv = None if xv is None else (xv - mean) / sd
    grid = FeatureModelConfig().c_grid
    if soft is None:
        m, c, score = choose_logreg(xs, y, xv, yv, grid)
    else:
        q = np.clip(np.asarray(soft, dtype=np.float64), 0.0, 1.0)
        w1, w0 = len(q) / (2 * max(q.sum(), 1e-9)), len(q) / (2 * max((1 - q).sum(), 1e-9))
        weight = np.concatenate([q * w1, (1 - q) * w0])
        m, c, score = choose_logreg(np.vstack([xs, xs]),
                                    np.r_[np.ones(len(q)), np.zeros(len(q))].astype(int),
                                    xv, yv, grid, "none", sample_weight=weight)
    dev = linear.weight.device
    norm.mean.copy_(torch.as_tensor(mean, dtype=torch.float32, device=dev))
    norm.scale.copy_(torch.as_tensor(sd, dtype=torch.float32, device=dev))
    w = torch.as_tensor(m.coef_[0], dtype=torch.float32, device=dev) / 2
    b = float(m.intercept_[0]) / 2
    linear.weight.copy_(torch.stack([-w, w]))
    linear.bias.copy_(torch.tensor([-b, b], device=dev))
    return {"C": float(c), "val_balanced_accuracy": score}


class GsrAnchor(nn.Module):
    """GSR (B, 1, T) → logits (B, n_classes): the ``gsr-features`` yardstick inside the
    student — the five skin-conductance features, fixed standardisation and a read-out fitted
    by :meth:`anchor` (buffers, as :class:`SpectralPath`'s anchored read-out)."""

    def __init__(self, fs: float, n_samples: int, n_classes: int,
                 scr_threshold: float = 0.05) -> None:
        super().__init__()
        self.gsr = SkinConductanceFeatures(fs, n_samples, scr_threshold)
        self.norm = Standardise(5)
        self.linear = FixedLinear(5, n_classes)

    def forward(self, gsr: torch.Tensor) -> torch.Tensor:
        return self.linear(self.norm(self.gsr(gsr)))

    @torch.no_grad()
    def features(self, ds: Any, batch: int = 512) -> np.ndarray:
        """(windows, 5) GSR features of a WindowDataset's windows, before standardisation."""
        device = self.linear.weight.device
        out = [self.gsr(ds.batch(np.arange(a, min(a + batch, len(ds))), eeg=False)[1]
                        .to(device)).cpu().numpy() for a in range(0, len(ds), batch)]
        return np.vstack(out) if out else np.zeros((0, 5))

    @torch.no_grad()
    def anchor(self, train: Any, val: Any | None, soft: np.ndarray | None = None
               ) -> dict[str, float]:
        """The ``gsr-features`` regression of the training windows' labels (or of ``soft``
        targets, :func:`fit_read_out`), C chosen on the validation windows."""
        return fit_read_out(self.norm, self.linear, self.features(train), train.labels,
                            self.features(val) if _usable(val) else None,
                            val.labels if _usable(val) else None, soft)
