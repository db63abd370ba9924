"""Does a conditional model care which classes share a sampling batch? (batch-norm statistics)

The generator's batch norms use batch statistics. Each client trains on batches of only its own
classes (about four under the default label shards), while ``sample`` draws all ten classes in
every batch; if that mismatch hurt, sampling in batches that look like a client's would score
better. This scores the same
model's samples, drawn in four batch compositions, by the domain FID. Usage::

    python bench/batch_composition.py runs/NAME --n 2000 --threads 1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from prism_secure.artifacts.model_file import decode_model, load_generator
from prism_secure.evaluation.domain import domain_metrics

COMPOSITIONS: dict[str, list[tuple[int, ...]]] = {
    "all ten classes per batch (what sample does)": [tuple(range(10))] * 10,
    "fours (0-3), (4-7), (8,9,0,1), ...": [
        tuple((4 * i + j) % 10 for j in range(4)) for i in range(10)
    ],
    "pairs (0,1), (2,3), ...": [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)] * 2,
    "pairs (1,2), (3,4), ...": [(1, 2), (3, 4), (5, 6), (7, 8), (9, 0)] * 2,
    "one class per batch": [(k,) for k in range(10)],
}


def draw(gen, groups: list[tuple[int, ...]], n: int) -> torch.Tensor:
    """``n`` samples, one batch per group, each batch cycling through its group's labels."""
    per = n // len(groups)
    out = []
    for seed, group in enumerate(groups):
        labels = torch.tensor(group)[torch.arange(per) % len(group)]
        out.append(gen.sample(per, seed=seed, labels=labels, batch_size=per))
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="A conditional run directory (or its model.prism).")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = args.run / "model.prism" if args.run.is_dir() else args.run
    gen = load_generator(model)
    if not gen.num_classes:
        ap.error(f"{model} is not a conditional model")
    dataset = decode_model(model.read_bytes())[0].dataset or "mnist"
    for name, groups in COMPOSITIONS.items():
        images = draw(gen, groups, args.n)
        fid = domain_metrics(images, dataset, args.data_dir)["domain_fid"]
        print(f"| {name} | {fid:.1f} |", flush=True)


if __name__ == "__main__":
    main()
