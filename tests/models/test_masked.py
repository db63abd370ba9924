"""Masked layers and generators: shared frozen weights, the straight-through gradient, counts."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import torch

from prism_secure.config import ModelConfig
from prism_secure.models.frozen import random_signs
from prism_secure.models.generators import build_generator
from prism_secure.models.masked import MaskedLinear

_CODE = (
    "import hashlib, torch;"
    "from prism_secure.config import ModelConfig;"
    "from prism_secure.models.generators import build_generator;"
    "g = build_generator(ModelConfig(), 11);"
    "h = hashlib.sha256();"
    "[h.update(m.weight.numpy().tobytes()) for m in g.masked_layers()];"
    "print(h.hexdigest())"
)


def test_frozen_weights_identical_across_independent_parties() -> None:
    """Two processes with different hash seeds and RNG states rebuild the same weights."""
    digests = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        out = subprocess.run(
            [sys.executable, "-c", f"import torch; torch.manual_seed({hashseed}); " + _CODE],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    other = build_generator(ModelConfig(), 12)
    same = build_generator(ModelConfig(), 11)
    assert not torch.equal(other.fc.weight, same.fc.weight)


def test_signed_kaiming_constant_values() -> None:
    g = build_generator(ModelConfig(), 0)
    w = g.fc.weight
    fan = w.shape[1]
    assert torch.allclose(w.abs(), torch.full_like(w, math.sqrt(2.0 / fan)))
    frac_pos = float((w > 0).float().mean())
    assert 0.49 < frac_pos < 0.51


def test_random_signs_are_balanced_and_stable() -> None:
    s = random_signs("tag", 100_000)
    assert set(np.unique(s)) == {-1.0, 1.0}
    assert abs(s.mean()) < 0.02
    assert np.array_equal(s, random_signs("tag", 100_000))


def test_straight_through_gradient_matches_hand_computation() -> None:
    torch.manual_seed(0)
    layer = MaskedLinear(3, 2, arch="t", seed=0, name="l", dense=False)
    with torch.no_grad():
        layer.scores.copy_(torch.tensor([[0.5, -1.0, 2.0], [0.0, 1.5, -0.5]]))
    x = torch.tensor([[1.0, 2.0, -1.0]])
    upstream = torch.tensor([[0.3, -0.7]])
    (layer(x) * upstream).sum().backward()
    theta = torch.sigmoid(layer.scores.detach())
    # d out_j / d w_eff[j,i] = x_i; d w_eff / d theta = w (straight-through); d theta / d s.
    expected = upstream.T @ x * layer.weight * theta * (1 - theta)
    assert torch.allclose(layer.scores.grad, expected, atol=1e-6)


def test_forward_uses_a_binary_mask_sample() -> None:
    layer = MaskedLinear(50, 40, arch="t", seed=0, name="l", dense=False)
    with torch.no_grad():
        layer.scores.fill_(0.0)
    w_eff = layer.effective_weight().detach()
    ratio = w_eff / layer.weight
    assert set(torch.unique(ratio).tolist()) <= {0.0, 1.0}
    assert 0.35 < float(ratio.mean()) < 0.65


def test_each_weight_counted_once() -> None:
    g = build_generator(ModelConfig(latent_dim=8, width=4), 0)
    by_hand = 8 * 32 * 49 + 32 * 8 * 16 + 8 * 4 * 16 + 4 * 9
    assert g.num_maskable == by_hand
    assert g.get_vector().numel() == by_hand
    r = build_generator(ModelConfig(arch="resnet32", latent_dim=128), 0, channels=3)
    assert 3.3e6 < r.num_maskable < 3.7e6  # the paper's "about 3.5 M"
    assert len(list(r.masked_layers())) == len({id(m) for m in r.masked_layers()})


def test_fixed_mask_and_sampling_shapes() -> None:
    g = build_generator(ModelConfig(latent_dim=8, width=4), 0)
    bits = np.random.default_rng(0).integers(0, 2, g.num_maskable).astype(np.uint8)
    g.set_fixed_mask(bits)
    a = g.sample(10, seed=1)
    b = g.sample(10, seed=1)
    assert a.shape == (10, 1, 28, 28)
    assert torch.equal(a, b)
    assert float(a.abs().max()) <= 1.0


def test_dense_mode_trains_weights() -> None:
    g = build_generator(ModelConfig(latent_dim=8, width=4, dense=True), 0)
    params = g.trainable()
    assert all(p.requires_grad for p in params)
    g(torch.randn(4, 8)).sum().backward()
    assert all(p.grad is not None for p in params)
