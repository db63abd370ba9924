"""Is the MMD feature map or the federation what limits sample quality? A centralized study.

One party holds all of MNIST's training split (exact feature moments, no DP, no federation) and
trains the default generator for ``--steps`` Adam steps on the moment-matching loss. Every
``--eval-every`` steps the mode mask (or the dense weights) is scored by the domain metric
(n = 1000 against the test split) and a sample grid is written. This is the best the loss can
do at a given compute budget, so it separates the feature map from the federated algorithm.

    python bench/feature_study.py --name rff-narrow --features rff --rff-dim 8192 \\
        --bandwidths 0.15 0.3 0.6 --lr 0.3 --steps 600 --seed 0
    python bench/feature_study.py --name hog --features hog+rff --lr 0.3 --steps 600

``hog+rff`` and ``pyramid`` are exploratory maps kept here only: random Fourier features of a
soft histogram-of-oriented-gradients descriptor (a Gaussian kernel between stroke-orientation
maps, plus pixel RFF), and pixel RFF at three resolutions. Both are data-independent.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.utils import save_image

from prism_secure.config import DataConfig, FeatureConfig, ModelConfig
from prism_secure.data.datasets import load_images
from prism_secure.evaluation.domain import domain_metrics
from prism_secure.features.base import FeatureMap
from prism_secure.features.factory import ConcatFeatures, build_feature_map
from prism_secure.features.moments import FeatureMoments, moment_matching_loss
from prism_secure.features.rff import RandomFourierFeatures
from prism_secure.models.generators import build_generator


class OfTransform(FeatureMap):
    """A feature map applied to a fixed transform of the image (pooled pixels, a HOG vector)."""

    def __init__(self, t: Callable[[torch.Tensor], torch.Tensor], inner: FeatureMap) -> None:
        super().__init__()
        self.t, self.inner, self.dim = t, inner, inner.dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(self.t(x))


def soft_hog(x: torch.Tensor, cells: tuple[int, ...] = (4, 7)) -> torch.Tensor:
    """Sobel gradients softly binned into 8 unsigned orientations, pooled on cell grids."""
    kx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device).view(1, 1, 3, 3)
    gx = F.conv2d(x, kx / 8, padding=1)
    gy = F.conv2d(x, kx.transpose(2, 3) / 8, padding=1)
    mag = (gx.pow(2) + gy.pow(2) + 1e-6).sqrt()
    ang = torch.atan2(gy, gx)
    bins = torch.cat(
        [torch.cos(2 * (ang - k * math.pi / 8)).clamp(min=0).pow(4) * mag for k in range(8)], 1
    )
    out = []
    for c in cells:
        p = F.adaptive_avg_pool2d(bins, c).flatten(1)
        out.append(p / (p.norm(dim=1, keepdim=True) + 0.05))
    return torch.cat(out, dim=1)


def feature_map(args: argparse.Namespace) -> FeatureMap:
    if args.features == "hog+rff":
        half, d_hog = args.rff_dim // 2, 8 * (16 + 49)
        pixels = RandomFourierFeatures((1, 28, 28), half, args.bandwidths, 1)
        # HOG bandwidths are absolute; the RFF class takes them relative to sqrt(d).
        rel = [b / math.sqrt(d_hog) for b in args.hog_bandwidths]
        hog = OfTransform(soft_hog, RandomFourierFeatures((d_hog,), half, rel, 2))
        return ConcatFeatures([pixels, hog])
    if args.features == "pyramid":
        third = args.rff_dim // 3
        pixels = RandomFourierFeatures((1, 28, 28), third, args.bandwidths, 1)
        pooled = [
            OfTransform(
                nn.AvgPool2d(k),
                RandomFourierFeatures((1, 28 // k, 28 // k), third, args.bandwidths, seed),
            )
            for seed, k in ((2, 2), (3, 4))
        ]
        return ConcatFeatures([pixels, *pooled])
    cfg = FeatureConfig(
        kind=args.features,
        rff_dim=args.rff_dim,
        bandwidths=args.bandwidths,
        randconv_width=args.randconv_width,
    )
    return build_feature_map(cfg, (1, 28, 28))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--out-dir", type=Path, default=Path("runs/feature_study"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--features", default="rff+randconv")
    p.add_argument("--rff-dim", type=int, default=2048)
    p.add_argument("--bandwidths", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--hog-bandwidths", type=float, nargs="+", default=[0.3, 0.6, 1.2])
    p.add_argument("--randconv-width", type=int, default=16)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--dense", action="store_true", help="Train the weights (no masks).")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = args.out_dir / args.name
    out.mkdir(parents=True, exist_ok=True)

    images = load_images(DataConfig(root=args.data_dir), train=True).images
    fmap = feature_map(args).eval()
    target = FeatureMoments.exact(fmap.encode_all(images))
    gen = build_generator(ModelConfig(width=args.width, dense=args.dense), 7, 1)
    if not args.dense:
        init = torch.Generator().manual_seed(1)
        gen.set_vector(torch.randn(gen.num_maskable, generator=init))
    train_mode = "dense" if args.dense else "sample"
    gen.set_mode(train_mode)
    opt = torch.optim.Adam(gen.trainable(), lr=args.lr, betas=(0.5, 0.999))

    log, train_s = [], 0.0
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        loss = moment_matching_loss(fmap(gen(torch.randn(args.batch, gen.latent_dim))), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_s += time.perf_counter() - t0
        if step % args.eval_every and step != args.steps:
            continue
        vec = gen.get_vector()
        if not args.dense:
            gen.set_fixed_mask((vec > 0).to(torch.uint8).numpy())
        samples = gen.sample(1000, seed=0)
        metrics = domain_metrics(samples, "mnist", args.data_dir, threads=args.threads)
        save_image(samples[:64] * 0.5 + 0.5, out / f"step{step:05d}.png", nrow=8)
        row = {
            "name": args.name,
            "step": step,
            "train_s": round(train_s, 1),
            "loss": round(float(loss.detach()), 5),
            "domain_fid": round(metrics["domain_fid"], 1),
            "classes_covered": metrics["classes_covered"],
        }
        print(json.dumps(row), flush=True)
        log.append(row)
        gen.set_mode(train_mode)
    (out / "log.json").write_text(json.dumps({"args": vars(args), "log": log}, default=str))


if __name__ == "__main__":
    main()
