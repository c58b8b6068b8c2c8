"""Deep baselines (emotionkd.models.baselines): Shallow and Deep ConvNet shapes."""

from __future__ import annotations

import pytest
import torch

from emotionkd.models import (
    build_model,
    default_config,
)


def test_shallowconvnet_shapes_and_single_convolution():
    from emotionkd.models.registry import build_model, default_config, model_spec

    cfg = default_config("shallowconvnet", 128.0, 4.0, 6)
    m = build_model("shallowconvnet", cfg).eval()
    assert model_spec("shallowconvnet")["inputs"] == "eeg+gsr"
    eeg, gsr = torch.randn(3, 6, 512), torch.randn(3, 1, 512)
    z, f = m(eeg, gsr)
    assert z.shape == (3, 2) and f.shape == (3, m.config.out_length(), 40)
    # the fused convolution equals the two layers of the original applied in turn
    with torch.no_grad():
        h = m.spatial(m.temporal(torch.cat([eeg, gsr], 1).unsqueeze(1))).squeeze(2)
        h = torch.nn.functional.avg_pool1d(m.bn(h) ** 2, m.config.pool_size, m.config.stride)
        torch.testing.assert_close(torch.log(h.clamp_min(1e-6)).transpose(1, 2), f)
    assert (m.config.kernel_size, m.config.pool_size, m.config.stride) == (13, 38, 8)


@pytest.mark.parametrize("fs, window_s", [(128, 4), (128, 1), (256, 1), (256, 8), (32, 1)])
def test_deepconvnet_shapes(fs, window_s):
    cfg = default_config("deepconvnet", fs, window_s, 32)
    m = build_model("deepconvnet", cfg).train()
    z, f = m(torch.randn(3, 1, int(round(fs * window_s))))
    c = m.config
    assert z.shape == (3, 2) and f.shape == (3, c.out_length(), 200) and c.out_length() >= 1
