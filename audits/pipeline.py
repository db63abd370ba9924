"""The audit of one run directory: load it, choose candidates, sample, and hand arrays to the core.

:func:`~prism_secure.audits.core.audit_arrays` is the pure core (arrays in, report out);
:func:`audit_run_dir` loads a run directory into it and never writes into that run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from prism_secure.artifacts.schema import load_transcripts
from prism_secure.audits.attacks.registry import parse_attack_names
from prism_secure.audits.candidates import Candidates, choose_candidates
from prism_secure.audits.core import AuditOutcome, Images, audit_arrays
from prism_secure.audits.rundir import RunDir, load_run_dir
from prism_secure.audits.settings import AuditSettings
from prism_secure.errors import RunDirError

__all__ = [
    "AuditOutcome",
    "AuditSettings",
    "Candidates",
    "audit_arrays",
    "audit_run_dir",
    "choose_candidates",
    "sample_generator",
]


def _images_of(dataset: object, idx: NDArray[np.int64]) -> Images:
    """Images of ``dataset`` at ``idx`` as float32 numpy, fast when the dataset holds a tensor."""
    import torch

    data = getattr(dataset, "data", None)
    images = getattr(data, "images", None)
    if isinstance(images, torch.Tensor):
        return images[torch.from_numpy(idx)].numpy().astype(np.float32)
    getitem: Callable[[int], tuple[torch.Tensor, int]] = dataset.__getitem__  # type: ignore[attr-defined]
    return torch.stack([getitem(int(i))[0] for i in idx]).numpy().astype(np.float32)


def sample_generator(model_path: Path, n: int, seed: int) -> Images:
    """``n`` samples of a saved generator, in [-1, 1], as float32 numpy."""
    import torch

    from prism_secure.artifacts.model_file import load_generator
    from prism_secure.errors import ModelFileError

    try:
        gen = load_generator(model_path, device="cpu")
    except ModelFileError as exc:
        raise RunDirError(f"{model_path}: {exc}") from exc
    with torch.no_grad():
        return gen.sample(n, seed=seed).cpu().numpy().astype(np.float32)


def _reference_records(
    ref: RunDir | None, train: object, test: object
) -> tuple[set[int], set[int]]:
    """The reference run's records (train split, test split): no candidate may be among them."""
    ref_train: set[int] = set()
    ref_test: set[int] = set()
    if ref is None:
        return ref_train, ref_test
    seen = set(ref.membership.members)
    if ref.membership.canaries is not None:
        seen |= set(ref.membership.canaries.inserted)
    on_test = ref.config.data.split == "test"
    ref.check_indices(len(test if on_test else train))  # type: ignore[arg-type]
    (ref_test if on_test else ref_train).update(seen)
    return ref_train, ref_test


def _canary_images(
    rd: RunDir, train: object, ref_train: set[int], ref: RunDir | None
) -> tuple[Images | None, NDArray[np.bool_] | None]:
    """The canary candidates' images and whether each was inserted; (None, None) without."""
    if rd.membership.canaries is None:
        return None, None
    c = rd.membership.canaries
    idx = np.array(sorted(c.candidates), dtype=np.int64)
    if ref_train & set(c.candidates):
        raise RunDirError(f"reference run {ref.path if ref else ''} trained on canary records")
    return _images_of(train, idx), np.isin(idx, np.array(c.inserted, dtype=np.int64))


def _load_runs(run_dir: Path, reference: Path | None) -> tuple[RunDir, RunDir | None]:
    rd = load_run_dir(run_dir)
    ref = load_run_dir(reference, reference=True) if reference is not None else None
    if ref is not None and ref.config.data.dataset != rd.config.data.dataset:
        raise RunDirError(
            f"reference run {ref.path} is on {ref.config.data.dataset}, "
            f"the audited run on {rd.config.data.dataset}"
        )
    return rd, ref


def audit_run_dir(
    run_dir: Path,
    settings: AuditSettings,
    reference: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> AuditOutcome:
    """Audit the run at ``run_dir`` (read only); ``reference`` is a run trained on other data."""
    from prism_secure.data.datasets import load_dataset

    settings = settings.model_copy(
        update={"attacks": parse_attack_names(",".join(settings.attacks))}
    )
    rd, ref = _load_runs(run_dir, reference)
    progress("loading data")
    train = load_dataset(rd.config.data, train=True)
    test = load_dataset(rd.config.data, train=False)
    rd.check_indices(len(train))  # type: ignore[arg-type]
    ref_train, ref_test = _reference_records(ref, train, test)
    cands = choose_candidates(
        rd,
        len(test),
        settings,
        exclude=ref_train,
        exclude_test=ref_test,  # type: ignore[arg-type]
    )
    nonmember_source = test if cands.nonmember_split == "test split" else train
    progress(f"sampling {settings.n_samples} images from the generator")
    generated = sample_generator(rd.model_path, settings.n_samples, settings.seed)
    reference_generated = None
    if ref is not None:
        reference_generated = sample_generator(
            ref.model_path, settings.n_samples, settings.seed + 1
        )
    canaries, canary_inserted = _canary_images(rd, train, ref_train, ref)
    transcripts = load_transcripts(rd.transcript_path) if rd.transcript_path else []
    progress("running attacks")
    return audit_arrays(
        members=_images_of(train, cands.members),
        nonmembers=_images_of(nonmember_source, cands.nonmembers),
        population=_images_of(test, cands.population),
        generated=generated,
        settings=settings,
        claimed_epsilon=rd.privacy.claimed_epsilon,
        delta=rd.privacy.delta,
        reference_generated=reference_generated,
        canaries=canaries,
        canary_inserted=canary_inserted,
        transcripts=transcripts,
        meta={
            "run_dir": str(rd.path),
            "dataset": rd.config.data.dataset,
            "nonmember_source": cands.nonmember_split,
            "reference_run": None if ref is None else str(ref.path),
        },
    )
