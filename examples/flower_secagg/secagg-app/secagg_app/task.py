"""The learning task, in numpy alone (no Flower): data, local training, and plain FedAvg.

Every function is deterministic, so the federated run can be replayed in one process: the
aggregate Flower computed must equal :func:`replay`'s, round after round.
"""

from __future__ import annotations

import numpy as np

FEATURES = 16
Arrays = dict[str, np.ndarray]


def initial_arrays() -> Arrays:
    return {"weight": np.zeros((FEATURES, 1), np.float32), "bias": np.zeros(1, np.float32)}


def partition(index: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Partition ``index`` of ``count``: its own size and a shifted input distribution."""
    if not 0 <= index < count:
        raise ValueError(f"partition {index} is outside 0..{count - 1}")
    truth = np.random.default_rng(7).normal(0.0, 1.0, (FEATURES, 1))
    gen = np.random.default_rng(1000 + index)
    rows = 40 + 20 * index
    x = gen.normal(0.1 * index, 1.0, (rows, FEATURES))
    y = x @ truth + 0.5 + gen.normal(0.0, 0.1, (rows, 1))
    return x.astype(np.float32), y.astype(np.float32)


def loss(arrays: Arrays, x: np.ndarray, y: np.ndarray) -> float:
    residual = x @ arrays["weight"] + arrays["bias"] - y
    return float(np.mean(residual**2))


def train(arrays: Arrays, index: int, count: int, lr: float, steps: int) -> tuple[Arrays, int]:
    """Full-batch gradient descent on one partition: the new arrays and the example count."""
    x, y = partition(index, count)
    w, b = arrays["weight"].copy(), arrays["bias"].copy()
    for _ in range(steps):
        residual = x @ w + b - y
        w -= np.float32(lr) * (2.0 * x.T @ residual / len(x)).astype(np.float32)
        b -= np.float32(lr) * (2.0 * residual.mean(axis=0)).astype(np.float32)
    return {"weight": w, "bias": b}, len(x)


def fedavg(results: list[tuple[Arrays, int]]) -> Arrays:
    """The weighted mean of the clients' arrays: the plain aggregate."""
    total = sum(n for _, n in results)
    return {
        k: (sum(a[k].astype(np.float64) * n for a, n in results) / total).astype(np.float32)
        for k in results[0][0]
    }


def central_loss(arrays: Arrays, count: int) -> float:
    parts = [partition(i, count) for i in range(count)]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return loss(arrays, x, y)


def replay(count: int, rounds: int, lr: float, steps: int) -> list[Arrays]:
    """The global arrays after each round (index 0: the initial ones), in one process."""
    history = [initial_arrays()]
    for _ in range(rounds):
        history.append(fedavg([train(history[-1], i, count, lr, steps) for i in range(count)]))
    return history
