"""Is the MMD feature map or the federation what limits sample quality? A centralized study.

One party holds all of MNIST's training split (exact feature moments, no DP, no federation) and
trains the default generator for ``--steps`` Adam steps on the moment-matching loss. Every
``--eval-every`` steps the mode mask (or the dense weights) is scored by the domain metric
(n = 1000 against the test split) and a sample grid is written. This is the best the loss can
do at a given compute budget, so it separates the feature map from the federated algorithm.

    python bench/feature_study.py --name rff-narrow --features rff --rff-dim 8192 \\
        --bandwidths 0.15 0.3 0.6 --lr 0.3 --steps 600 --seed 0
    python bench/feature_study.py --name hog --features hog+rff --lr 0.3 --steps 600

``--conditional`` trains the class-conditional generator (the run default) on per-class moments;
``--features`` takes any ``features.kind`` of the library (``effnet+rff+randconv`` needs the
``pretrained`` extra), ``--part-weights effnet=2`` weighs its parts, ``--estimator adam`` uses
the running moment estimator, and ``--inception-n 1000`` scores the last step with Inception FID
and PRDC too. Targets are cached per map under ``--out-dir``, so repeated probes encode once:

    python bench/feature_study.py --name eff-c --conditional --features effnet+rff+randconv \
        --steps 600 --inception-n 1000

``hog+rff`` and ``pyramid`` are exploratory maps kept here only: random Fourier features of a
soft histogram-of-oriented-gradients descriptor (a Gaussian kernel between stroke-orientation
maps, plus pixel RFF), and pixel RFF at three resolutions. Both are data-independent.
"""

from __future__ import annotations

import argparse
import hashlib
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
from prism_secure.evaluation import evaluate_samples
from prism_secure.evaluation.domain import domain_metrics
from prism_secure.features.base import FeatureMap
from prism_secure.features.estimator import MomentEstimator
from prism_secure.features.factory import ConcatFeatures, build_feature_map
from prism_secure.features.moments import ClassMoments, batch_labels, class_moment_loss
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
    return build_feature_map(feature_config(args), (1, 28, 28))


def feature_config(args: argparse.Namespace) -> FeatureConfig:
    weights = {k: float(v) for k, v in (w.split("=") for w in args.part_weights)}
    return FeatureConfig(
        kind=args.features,
        part_weights=weights,
        rff_dim=args.rff_dim,
        bandwidths=args.bandwidths,
        randconv_width=args.randconv_width,
        effnet_blocks=args.effnet_blocks,
        effnet_resolution=args.effnet_res,
        effnet_pool=args.effnet_pool or None,
    )


def class_targets(args: argparse.Namespace, fmap: FeatureMap) -> ClassMoments:
    """Exact per-class moments of all of the training split (one class when unconditional)."""
    key = json.dumps([args.features, args.hog_bandwidths, feature_config(args).model_dump_json()])
    key += f"|{args.conditional}|{args.dataset}"
    path = args.out_dir / "targets" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"
    if path.is_file():
        t = torch.load(path, weights_only=True)
        return ClassMoments(t["mean"], t["var"], t["weights"])
    data = load_images(DataConfig(dataset=args.dataset, root=args.data_dir), train=True)
    feats = fmap.encode_all(data.images)
    labels = data.labels if args.conditional else torch.zeros_like(data.labels)
    k = int(labels.max()) + 1
    mean = torch.stack([feats[labels == c].mean(0) for c in range(k)])
    var = torch.stack([feats[labels == c].var(0, unbiased=False) for c in range(k)])
    weights = torch.bincount(labels, minlength=k).double() / labels.numel()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"mean": mean, "var": var, "weights": weights.float()}, path)
    return ClassMoments(mean, var, weights.float())


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--name", required=True)
    p.add_argument("--out-dir", type=Path, default=Path("runs/feature_study"))
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--dataset", default="mnist", choices=["mnist", "fashion_mnist"])
    p.add_argument("--features", default="rff+randconv")
    p.add_argument("--part-weights", nargs="*", default=[], help="PART=W, e.g. effnet=2")
    p.add_argument("--rff-dim", type=int, default=2048)
    p.add_argument("--bandwidths", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--hog-bandwidths", type=float, nargs="+", default=[0.3, 0.6, 1.2])
    p.add_argument("--randconv-width", type=int, default=16)
    p.add_argument("--effnet-blocks", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--effnet-res", type=int, default=32)
    p.add_argument("--effnet-pool", type=int, default=2, help="0 keeps the whole map")
    p.add_argument("--conditional", action="store_true", help="Label-conditional generator.")
    p.add_argument("--estimator", default="direct", choices=["direct", "adam", "ema"])
    p.add_argument("--estimator-lr", type=float, default=1e-3)
    p.add_argument("--reset-every", type=int, default=0, help="New estimator every N steps.")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--dense", action="store_true", help="Train the weights (no masks).")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--inception-n", type=int, default=0, help="Inception FID/PRDC at the end.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out = args.out_dir / args.name
    out.mkdir(parents=True, exist_ok=True)

    fmap = feature_map(args).eval()
    target = class_targets(args, fmap)
    k = target.mean.shape[0] if args.conditional else 0
    gen = build_generator(ModelConfig(width=args.width, dense=args.dense), 7, 1, k)
    if not args.dense:
        init = torch.Generator().manual_seed(1)
        gen.set_vector(torch.randn(gen.num_maskable, generator=init))
    train_mode = "dense" if args.dense else "sample"
    gen.set_mode(train_mode)
    opt = torch.optim.Adam(gen.trainable(), lr=args.lr, betas=(0.5, 0.999))
    labels = batch_labels(target.weights, args.batch)

    def make_estimator() -> MomentEstimator | None:
        if args.estimator == "direct":
            return None
        return MomentEstimator(target, args.estimator, args.estimator_lr)

    est = make_estimator()
    log, train_s = [], 0.0
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        if args.reset_every and step % args.reset_every == 1 and step > 1:
            est = make_estimator()
        z = torch.randn(args.batch, gen.latent_dim)
        fake = fmap(gen(z, labels) if k else gen(z))
        if est is None:
            loss = class_moment_loss(fake, labels, target)
            value = float(loss.detach())
        else:
            loss, value = est.loss(fake, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        train_s += time.perf_counter() - t0
        if step % args.eval_every and step != args.steps:
            continue
        row = evaluate(args, gen, out, step, train_s, value)
        print(json.dumps(row), flush=True)
        log.append(row)
        gen.set_mode(train_mode)
    (out / "log.json").write_text(json.dumps({"args": vars(args), "log": log}, default=str))


def evaluate(
    args: argparse.Namespace,
    gen: torch.nn.Module,
    out: Path,
    step: int,
    train_s: float,
    loss: float,
) -> dict:
    """Domain metrics (and, at the last step, Inception FID and PRDC) of the mode mask."""
    vec = gen.get_vector()
    if not args.dense:
        gen.set_fixed_mask((vec > 0).to(torch.uint8).numpy())
    samples = gen.sample(1000, seed=0)
    metrics = domain_metrics(samples, args.dataset, args.data_dir, threads=args.threads)
    nrow = 10 if gen.num_classes else 8
    save_image(samples[: 8 * nrow] * 0.5 + 0.5, out / f"step{step:05d}.png", nrow=nrow)
    row = {
        "name": args.name,
        "step": step,
        "train_s": round(train_s, 1),
        "loss": round(loss, 5),
        "domain_fid": round(metrics["domain_fid"], 1),
        "classes_covered": metrics["classes_covered"],
    }
    if args.inception_n and step == args.steps:
        report = evaluate_samples(
            lambda n, seed: gen.sample(n, seed=seed),
            args.dataset,
            args.data_dir,
            n=args.inception_n,
            metrics=("fid", "prdc"),
            threads=args.threads,
        )
        row.update(fid=round(report.fid, 2), fid_floor=round(report.fid_floor, 2))
        row.update({k: round(v, 4) for k, v in report.prdc.model_dump().items()})
    return row


if __name__ == "__main__":
    main()
