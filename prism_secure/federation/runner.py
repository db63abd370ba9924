"""``train_run``: everything between a validated config and a finished run directory.

Order matters for the promise that bad input leaves nothing behind: the config is validated, the
data loaded and partitioned, and the models built before the run folder is created.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from prism_secure.artifacts.atomic import write_json_atomic
from prism_secure.artifacts.images import grid_columns, save_grid
from prism_secure.artifacts.model_file import ModelHeader, save_model
from prism_secure.artifacts.released import Released, ReleaseStore
from prism_secure.artifacts.rundir import RunDirectory
from prism_secure.config import RunConfig
from prism_secure.data.datasets import IMAGE_SHAPES, NUM_CLASSES, ImageData, load_images
from prism_secure.data.partition import Membership, partition
from prism_secure.errors import DataNotFoundError, RunDirError
from prism_secure.evaluation.domain_classifier import ClassifierSpec
from prism_secure.evaluation.plots import plot_training_curves
from prism_secure.features.factory import build_feature_map
from prism_secure.features.moments import ClassMoments, FeatureMoments
from prism_secure.federation.engine import Client, FederatedEngine, Server, round_seed
from prism_secure.federation.secure_sum import build_summer, stall_risk
from prism_secure.models.generators import MaskedGenerator, build_generator
from prism_secure.privacy import (
    PrivacyLedger,
    ReleasedClassStatistics,
    check_release_parameters,
    read_ledger,
    release_class_statistics,
    release_statistics,
)
from prism_secure.privacy import write_ledger as write_privacy_ledger

STALL_WARNING = 0.01  # warn when a round's abort risk at the simulated dropout exceeds this


def _setup_threads(cfg: RunConfig) -> None:
    if cfg.training.threads:
        torch.set_num_threads(cfg.training.threads)


def label_count(cfg: RunConfig) -> int:
    """Labels the run's generator reads: the dataset's when conditional, else 0."""
    return NUM_CLASSES[cfg.data.dataset] if cfg.model.conditional else 0


def build_run_generator(cfg: RunConfig) -> MaskedGenerator:
    """The run's generator on the CPU, as every party rebuilds it from the config."""
    channels = IMAGE_SHAPES[cfg.data.dataset][0]
    return build_generator(cfg.model, cfg.weight_seed, channels, label_count(cfg))


def record_bound(cfg: RunConfig, dataset_size: int) -> int:
    """The public bound on records per client: ``privacy.max_records``, else what the subset cap
    and the canaries allow, else the size of the split. All three are public.

    Delta and the noise multiplier come from it, never from a client's true count.
    """
    if cfg.privacy.max_records is not None:
        return int(cfg.privacy.max_records)
    if cfg.data.max_records_per_client is not None:
        return min(int(dataset_size), cfg.data.max_records_per_client + cfg.audit.canaries)
    return int(dataset_size)


def client_target(released: Released) -> FeatureMoments | ClassMoments:
    """What training matches: the released moments (and, per class, the class weights)."""
    if isinstance(released, ReleasedClassStatistics):
        return ClassMoments(released.mean, released.var, released.class_weights())
    return FeatureMoments(released.mean, released.var)


def release_client(
    cfg: RunConfig,
    data: ImageData,
    rows: list[int],
    feature_map: Any,
    *,
    cid: int,
    bound: int,
    releases: int,
) -> Released:
    """One client's features, computed once and released (with DP when on), per label if
    conditional; ``releases`` counts this client's releases in the run, this one included."""
    index = torch.as_tensor(rows, dtype=torch.long)
    feats = feature_map.encode_all(data.images[index])
    common = {"cfg": cfg.privacy, "max_records": bound, "stream": cid, "releases": releases}
    if label_count(cfg):
        return release_class_statistics(feats, data.labels[index], label_count(cfg), **common)
    return release_statistics(feats, **common)


def prepare_clients(
    cfg: RunConfig,
    data: ImageData,
    membership: Membership,
    feature_map: Any,
    store: ReleaseStore,
    prior: PrivacyLedger | None = None,
) -> tuple[list[Client], PrivacyLedger]:
    """Every client's release, made once and persisted before any round, or read back.

    A client whose release is on disk reuses it. One without (a first start, or a start cut
    short) releases now; if ``prior`` (the ledger of an earlier start) shows it released before,
    its file was lost and the new release is composed with the old ones in the ledger.
    """
    bound = record_bound(cfg, len(data.labels))
    clients, records = [], {}
    for cid, rows in sorted(membership.clients.items()):
        released = store.load(cid)
        if released is None:
            before = prior.clients[cid].num_releases if prior and cid in prior.clients else 0
            released = release_client(
                cfg, data, rows, feature_map, cid=cid, bound=bound, releases=before + 1
            )
            store.save(cid, released)
        clients.append(Client(cid, client_target(released)))
        records[cid] = released.record
    return clients, PrivacyLedger.from_records(cfg.privacy, records)


def initial_scores(cfg: RunConfig, generator: MaskedGenerator) -> torch.Tensor:
    """Scores start at N(0, 1) (the paper); the dense baseline starts from its own init."""
    if cfg.model.dense:
        return generator.get_vector().clone()
    gen = torch.Generator().manual_seed(round_seed(cfg.seed, 0, 0))
    return torch.randn(generator.num_maskable, generator=gen)


def final_mask(cfg: RunConfig, scores: torch.Tensor) -> np.ndarray:
    """The binary mask a model is exported (and sampled during training) with.

    The mode (theta > 0.5) is the default: a single Bernoulli draw adds mask noise on top of
    what training learned (domain FID 158-160 for two draws against 136 for the mode on the
    default run). Both are functions of the global scores only, so DP is unaffected.
    """
    if cfg.output.final_mask == "mode":
        return (scores > 0).to(torch.uint8).numpy()
    gen = torch.Generator().manual_seed(round_seed(cfg.seed, cfg.federation.rounds + 1, 3))
    return torch.bernoulli(torch.sigmoid(scores), generator=gen).to(torch.uint8).numpy()


def export_model(cfg: RunConfig, scores: torch.Tensor, path: Path) -> int:
    """Write the final model file (dense weights, or the ``final_mask`` bits); its size in bytes."""
    header = ModelHeader(
        kind="dense" if cfg.model.dense else "mask",
        model=cfg.model,
        weight_seed=cfg.weight_seed,
        channels=IMAGE_SHAPES[cfg.data.dataset][0],
        num_params=scores.numel(),
        dataset=cfg.data.dataset,
        num_classes=label_count(cfg),
    )
    payload = scores.numpy() if cfg.model.dense else final_mask(cfg, scores)
    return save_model(path, header, payload)


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[info]}"),
        disable=not enabled,
        transient=False,
    )


def train_run(
    cfg: RunConfig,
    *,
    progress: bool = True,
    resume: Path | None = None,
    console: Console | None = None,
) -> Path:
    """Train (or resume) a run and return its directory."""
    console = console or Console(stderr=True, quiet=not progress)
    if resume is not None:
        run = RunDirectory.open(resume)
        cfg = run.config()
    _setup_threads(cfg)
    shape = IMAGE_SHAPES[cfg.data.dataset]
    if cfg.model.arch == "resnet32" and shape[1] != 32:
        raise RunDirError("model.arch resnet32 makes 32x32 images; use dcgan28 for 28x28 data")
    if cfg.secure_agg.mode == "none":
        warnings.warn(
            "secure_agg.mode is 'none': the server sees every client's mask", stacklevel=2
        )
        console.print(
            "[yellow]warning:[/] --secure-agg none: the server sees every client's individual mask."
        )
    if not cfg.privacy.enabled:
        console.print("[yellow]warning:[/] --no-dp: no differential-privacy guarantee.")
    cohort = max(1, round(cfg.federation.participation * cfg.partition.num_clients))
    risk = stall_risk(cfg.secure_agg, cohort, cfg.federation.dropout)
    if risk > STALL_WARNING:
        console.print(
            f"[yellow]warning:[/] at dropout {cfg.federation.dropout:g} a round aborts (and "
            f"releases nothing) with probability up to {risk:.2g}; raise "
            "secure_agg.neighbours or lower secure_agg.threshold."
        )
    data = load_images(cfg.data, train=cfg.data.split == "train", attribute=cfg.partition.attribute)
    membership = partition(
        data.labels.numpy(),
        cfg.partition,
        cfg.seed,
        dataset=cfg.data.dataset,
        holdout=cfg.data.holdout,
        max_records_per_client=cfg.data.max_records_per_client,
        canaries=cfg.audit.canaries,
        split=cfg.data.split,
        record_bound=record_bound(cfg, len(data.labels)),
    )
    generator = build_run_generator(cfg).to(cfg.training.device)
    feature_map = build_feature_map(cfg.features, shape).to(cfg.training.device)
    summer = build_summer(cfg.secure_agg)

    check_release_parameters(cfg.privacy, record_bound(cfg, len(data.labels)))
    if resume is None:
        run = RunDirectory.create(cfg)
        write_json_atomic(run.membership_path, membership.model_dump(mode="json"))
    prior = read_ledger(run.path) if run.privacy_path.exists() else None
    clients, ledger = prepare_clients(
        cfg, data, membership, feature_map, ReleaseStore(run.path), prior
    )
    write_privacy_ledger(run.path, ledger)
    state = run.load_checkpoint() if resume is not None else None
    if state is None:
        scores, start, rng_state = initial_scores(cfg, generator), 1, None
        run.truncate_metrics(0)
    else:
        scores, start, rng_state = state["scores"], int(state["round"]) + 1, state["server_rng"]
        run.truncate_metrics(int(state["round"]))
    server = Server(cfg, scores, rng_state)
    engine = FederatedEngine(cfg, generator, feature_map, clients, summer, server)
    if state is not None:
        engine.totals = dict(state["totals"])

    rounds = cfg.federation.rounds
    with _progress(progress) as bar:
        t_rounds = bar.add_task("rounds", total=rounds, completed=start - 1, info="")
        t_clients = bar.add_task("clients", total=len(clients), info="")
        for r in range(start, rounds + 1):
            bar.reset(t_clients)
            report = engine.run_round(r, on_client=lambda _cid: bar.advance(t_clients))
            rec = report.record
            if r % cfg.output.sample_every == 0 or r == rounds:
                images = _sample_grid(
                    cfg,
                    server.scores,
                    generator,
                    run.samples_dir / f"round_{r:04d}.png",
                    n=1000 if cfg.output.track_domain_fid else 64,
                )
                if cfg.output.track_domain_fid:
                    rec["domain_fid"] = _domain_fid(cfg, images, console)
            if report.transcript is not None:
                run.save_transcript(r, report.transcript)
            run.append_metrics(rec)
            run.save_checkpoint(
                {
                    "round": r,
                    "scores": server.scores,
                    "server_rng": server.rng.get_state(),
                    "totals": engine.totals,
                }
            )
            info = f"loss {rec['loss']:.4g}"
            if "lambda" in rec:
                info += f"  lambda {rec['lambda']:.3f}"
            bar.update(t_rounds, advance=1, info=info)
    _finish(cfg, run, generator, server.scores, engine, console, ledger.statement)
    console.print(f"[bold]privacy:[/] {ledger.statement}")
    return run.path


def _sample_grid(
    cfg: RunConfig, scores: torch.Tensor, generator: MaskedGenerator, path: Path, n: int = 64
) -> torch.Tensor:
    """Draw ``n`` samples of the model as it would be exported now; the first 64 go in a PNG."""
    generator.set_vector(scores)
    if cfg.model.dense:
        generator.set_mode("dense")
    else:
        generator.set_fixed_mask(final_mask(cfg, scores))
    nrow = grid_columns(generator)
    images = generator.sample(max(n, 8 * nrow), seed=cfg.seed)
    save_grid(images[: 8 * nrow], path, nrow=nrow)
    return images[:n]


def public_split(cfg: RunConfig) -> str:
    """The split no client of this run holds: per-round tracking reads only it."""
    return "test" if cfg.data.split == "train" else "train"


def tracking_spec(cfg: RunConfig) -> ClassifierSpec:
    """The domain classifier of per-round tracking: trained on the public split only.

    Its figures go into covered files (``metrics.jsonl``, the curves), so it must never see a
    client's record; the test split is small, so it gets more epochs.
    """
    split = public_split(cfg)
    return ClassifierSpec(split=split, epochs=5 if split == "test" else 1)


def _domain_fid(cfg: RunConfig, images: torch.Tensor, console: Console) -> float | None:
    """Training-curve quality: FID in a small classifier's feature space, from public data only."""
    from prism_secure.evaluation import domain_metrics
    from prism_secure.evaluation.errors import EvaluationError

    try:
        metrics = domain_metrics(
            images,
            cfg.data.dataset,
            cfg.data.root,
            spec=tracking_spec(cfg),
            reference_split=public_split(cfg),
        )
        return float(metrics["domain_fid"])
    except (EvaluationError, DataNotFoundError, OSError) as exc:
        console.print(f"[yellow]warning:[/] domain FID skipped: {exc}")
        cfg.output.track_domain_fid = False
        return None


def _finish(
    cfg: RunConfig,
    run: RunDirectory,
    generator: MaskedGenerator,
    scores: torch.Tensor,
    engine: FederatedEngine,
    console: Console,
    privacy_statement: str,
) -> None:
    size = export_model(cfg, scores, run.model_path)
    _sample_grid(cfg, scores, generator, run.samples_dir / "final.png")
    metrics = run.metrics()
    plot_training_curves(run.metrics_path, run.curves_path)
    summary = {
        "rounds": len(metrics),
        "final_loss": metrics[-1]["loss"] if metrics else None,
        "model_bytes": size,
        "num_params": scores.numel(),
        "total_bytes_up": engine.totals["bytes_up"],
        "total_bytes_down": engine.totals["bytes_down"],
        "wall_seconds": sum(m.get("seconds", 0.0) for m in metrics),
        "secure_agg": cfg.secure_agg.mode,
        "privacy": privacy_statement,
    }
    write_json_atomic(run.summary_path, summary)
    console.print(f"model: {run.model_path} ({size / 1024:.1f} KiB)")
