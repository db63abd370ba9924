"""A masked training step versus the same architecture trained densely, on this machine.

Both variants run interleaved (masked, dense, masked, dense, ...) so that noise from other load
hits them alike; the report gives medians over repeats and their ratio from the same run.

    python bench/train_speed.py --repeats 7 --steps 30
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from prism_secure.config import FeatureConfig, ModelConfig, TrainingConfig
from prism_secure.features.factory import build_feature_map
from prism_secure.features.moments import FeatureMoments, moment_matching_loss
from prism_secure.models.generators import build_generator


def steps_per_second(
    dense: bool, steps: int, model: ModelConfig, features: FeatureConfig, training: TrainingConfig
) -> float:
    gen = build_generator(model.model_copy(update={"dense": dense}), seed=0)
    if not dense:
        gen.set_vector(torch.randn(gen.num_maskable))
    fmap = build_feature_map(features, (1, 28, 28))
    target = FeatureMoments.exact(fmap(torch.rand(256, 1, 28, 28) * 2 - 1))
    opt = torch.optim.Adam(gen.trainable(), lr=training.lr, betas=training.betas)
    z = torch.randn(training.batch_size, gen.latent_dim)
    for _ in range(3):  # warm-up: allocator and kernel selection
        moment_matching_loss(fmap(gen(z)), target).backward()
    start = time.perf_counter()
    for _ in range(steps):
        z = torch.randn(training.batch_size, gen.latent_dim)
        loss = moment_matching_loss(fmap(gen(z)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--width", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = ModelConfig(width=args.width)
    features, training = FeatureConfig(), TrainingConfig()
    masked, dense = [], []
    for _ in range(args.repeats):
        masked.append(steps_per_second(False, args.steps, model, features, training))
        dense.append(steps_per_second(True, args.steps, model, features, training))
    ratios = [d / m for m, d in zip(masked, dense, strict=True)]
    report = {
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}",
        "params": build_generator(model, 0).num_maskable,
        "masked_steps_per_s_median": statistics.median(masked),
        "dense_steps_per_s_median": statistics.median(dense),
        "masked_time_over_dense_median": statistics.median(ratios),
        "repeats": args.repeats,
        "steps": args.steps,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
