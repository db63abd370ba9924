"""The whole run as one validated pydantic model, loadable from TOML with dotted overrides.

Every model forbids unknown keys, so a typo fails before any work starts and names the field.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prism_secure.errors import ConfigError
from prism_secure.features.config import DEFAULT_PART_WEIGHTS as DEFAULT_PART_WEIGHTS
from prism_secure.features.config import FEATURE_PARTS as FEATURE_PARTS
from prism_secure.features.config import FeatureConfig as FeatureConfig

DatasetName = Literal["mnist", "fashion_mnist", "cifar10", "celeba"]


class CrossFieldError(ValueError):
    """A rule tying two config sections together is broken; ``field`` names the one to change."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class DataConfig(_Strict):
    dataset: DatasetName = "mnist"
    root: Path | None = Field(
        default=None,
        description="Folder in torchvision's layout; else $PRISM_SECURE_DATA, else a user cache.",
    )
    download: bool = True
    max_records_per_client: int | None = Field(default=None, ge=1)
    split: Literal["train", "test"] = Field(
        default="train",
        description="The split clients train on; 'test' makes a reference generator for the "
        "calibrated audit, trained on records disjoint from every train-split member.",
    )
    holdout: int = Field(
        default=1000, ge=0, description="Train-split records no client gets: audit non-members."
    )


class PartitionConfig(_Strict):
    scheme: Literal["iid", "shards", "dirichlet", "attribute"] = "shards"
    num_clients: int = Field(default=10, ge=1, le=100_000)
    shards_per_client: int = Field(default=4, ge=1)
    alpha: float = Field(default=0.5, gt=0)
    attribute: str = "Male"


class ModelConfig(_Strict):
    arch: Literal["dcgan28", "resnet32"] = "dcgan28"
    latent_dim: int = Field(default=128, ge=1)
    width: int | None = Field(
        default=None, ge=4, description="Base channel count; None takes the architecture's."
    )
    weight_seed: int | None = Field(
        default=None, description="Seed of the frozen random weights; defaults to the run seed."
    )
    dense: bool = Field(default=False, description="Train weights densely (a baseline), no masks.")
    conditional: bool = Field(
        default=True,
        description="Condition the generator on the class label and match each class's feature "
        "moments (samples are class-balanced); false gives the paper's unconditional model.",
    )


class TrainingConfig(_Strict):
    local_iters: int = Field(default=40, ge=1)
    batch_size: int = Field(default=64, ge=2)
    lr: float = Field(default=0.1, gt=0)
    betas: tuple[float, float] = (0.5, 0.999)
    device: Literal["cpu", "cuda"] = "cpu"
    threads: int | None = Field(
        default=None,
        ge=1,
        description="torch's threads; None: torch's default (every core). Keep it at most the "
        "idle cores: beside another job, a run with more threads than free cores slows several "
        "times over.",
    )
    moment_estimator: Literal["direct", "adam", "ema"] = Field(
        default="direct",
        description="'direct' matches each batch's feature moments; 'adam' keeps GFMN-style "
        "running estimates of the moment differences, updated by Adam at estimator_lr; 'ema' "
        "keeps an exponential moving average with weight estimator_lr per step.",
    )
    estimator_lr: float = Field(default=1e-3, gt=0, le=1)


class FederationConfig(_Strict):
    engine: Literal["in-process", "flower"] = Field(
        default="in-process",
        description="What carries the messages: one process, or Flower's deployment engine.",
    )
    rounds: int = Field(default=20, ge=1)
    participation: float = Field(default=1.0, gt=0, le=1)
    dropout: float = Field(default=0.0, ge=0, lt=1)
    aggregator: Literal["mada", "fedpm"] = "mada"
    mada_space: Literal["logit", "prob"] = "logit"
    mada_lambda: Literal["sampled", "expected"] = "sampled"
    theta_clip: float = Field(default=0.01, gt=0, lt=0.5)
    broadcast_bits: int | None = Field(
        default=None,
        ge=1,
        le=8,
        description="Send the global scores down quantised to this many bits per weight "
        "(seeded stochastic rounding); None sends float32.",
    )


class FlowerConfig(_Strict):
    """Deadlines of the Flower engine: a site that misses one is a dropout at that phase."""

    train_timeout: float = Field(
        default=900.0, gt=0, description="Seconds a site may take to train and advertise keys."
    )
    phase_timeout: float = Field(
        default=120.0, gt=0, description="Seconds a site may take for each protocol phase."
    )
    startup_timeout: float = Field(
        default=300.0, gt=0, description="Seconds the server waits for every site before round 1."
    )
    poll_interval: float = Field(
        default=0.2,
        gt=0,
        le=5,
        description="The longest wait, in seconds, between the server's pulls of replies "
        "(0.05 s after each reply, doubling while none comes).",
    )


class SecureAggConfig(_Strict):
    mode: Literal["pairwise", "none", "he"] = "pairwise"
    graph: Literal["full", "sparse"] = "full"
    neighbours: int | None = Field(
        default=None, ge=2, description="SecAgg+ degree k (even); None: the parameter finder picks."
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Fraction t/m of the m holders of each secret (m = n, or k + 1 on the sparse "
        "graph). None: the smallest t the security rule allows (2t > n, or 2t > k); a value "
        "below it is refused. For mode 'he' it is the fewest uploads, None meaning half.",
    )
    stall_target: float = Field(
        default=1e-6, gt=0, le=1, description="The abort risk per round the finder aims under."
    )
    dropout: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="The dropout rate the parameter finder plans for; None: federation.dropout.",
    )
    record_transcript: bool = False


class PrivacyConfig(_Strict):
    enabled: bool = True
    epsilon: float = Field(default=8.0, gt=0)
    delta: float | None = Field(
        default=None, gt=0, lt=1, description="None: min(1e-5, 1 / (10 max_records))."
    )
    max_records: int | None = Field(
        default=None,
        ge=1,
        description="Public bound on the records one client contributes; delta and the noise "
        "come from it, never from a client's true count, and a larger client is truncated to "
        "it. None: the size of the dataset split (public).",
    )
    clip_norm: float = Field(default=1.0, gt=0)
    accountant: Literal["rdp", "prv"] = "rdp"
    noise_seed: int | None = Field(
        default=None,
        description="Only for reproducing experiments: anyone who knows it can remove the noise.",
    )


class AuditConfig(_Strict):
    canaries: int = Field(default=0, ge=0)


class OutputConfig(_Strict):
    runs_dir: Path = Path("runs")
    name: str | None = None
    sample_every: int = Field(default=5, ge=1)
    track_domain_fid: bool = Field(
        default=True,
        description="Every sample_every rounds, score 1000 samples with the domain classifier "
        "(an evaluation aid that reads the real test split; it never feeds training).",
    )
    overwrite: bool = False
    final_mask: Literal["mode", "sample"] = Field(
        default="mode",
        description="The exported binary mask: 'mode' keeps every weight with theta > 0.5 (the "
        "most likely mask), 'sample' draws one Bernoulli mask from theta.",
    )


class RunConfig(_Strict):
    seed: int = 0
    data: DataConfig = Field(default_factory=DataConfig)
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    features: FeatureConfig = Field(default_factory=FeatureConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    federation: FederationConfig = Field(default_factory=FederationConfig)
    secure_agg: SecureAggConfig = Field(default_factory=SecureAggConfig)
    flower: FlowerConfig = Field(default_factory=FlowerConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        """Every rule that ties two sections together, checked before any work starts."""
        rgb = self.data.dataset in ("cifar10", "celeba")
        if self.model.arch == "dcgan28" and rgb:
            raise CrossFieldError("model.arch", "dcgan28 makes 1x28x28 images; use resnet32")
        if self.model.arch == "resnet32" and not rgb:
            raise CrossFieldError("model.arch", "resnet32 makes 32x32 images; use dcgan28")
        if self.partition.scheme == "attribute" and self.data.dataset != "celeba":
            raise CrossFieldError("partition.scheme", "'attribute' needs data.dataset 'celeba'")
        if self.federation.engine == "flower":
            self._check_flower()
        if self.model.dense and self.secure_agg.mode != "none":
            raise CrossFieldError(
                "secure_agg.mode",
                f"{self.secure_agg.mode!r} sums integers and cannot carry the float weights of "
                "model.dense; use 'none' for the dense baseline",
            )
        return self

    def _check_flower(self) -> None:
        """What the Flower engine cannot do: real sites drop out for real, and keep their data."""
        if self.secure_agg.mode != "pairwise":
            raise CrossFieldError("secure_agg.mode", "the Flower engine runs pairwise SecAgg only")
        if self.federation.dropout:
            raise CrossFieldError(
                "federation.dropout",
                "simulated dropouts are in-process only; on Flower they are "
                "real (plan for them with secure_agg.dropout)",
            )
        if self.secure_agg.record_transcript:
            raise CrossFieldError(
                "secure_agg.record_transcript", "needs every true mask, which no site sends"
            )

    @property
    def weight_seed(self) -> int:
        return self.seed if self.model.weight_seed is None else self.model.weight_seed


def _set_dotted(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(key, f"{part!r} is a value, not a section")
        node = child
    node[parts[-1]] = value


def _field_of(err: ValidationError) -> str:
    first = err.errors()[0]
    cause = first.get("ctx", {}).get("error")
    if isinstance(cause, CrossFieldError):
        return cause.field
    return ".".join(str(p) for p in first["loc"]) or "config"


def build_config(
    toml_path: Path | None = None, overrides: dict[str, Any] | None = None
) -> RunConfig:
    """Load a TOML file (if any), apply dotted-key overrides, and validate the result."""
    tree: dict[str, Any] = {}
    if toml_path is not None:
        try:
            tree = tomllib.loads(Path(toml_path).read_text())
        except FileNotFoundError as exc:
            raise ConfigError("config", f"file not found: {toml_path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("config", f"{toml_path} is not valid TOML: {exc}") from exc
    for key, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(tree, key, value)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        cause = first.get("ctx", {}).get("error")
        message = str(cause).split(": ", 1)[1] if isinstance(cause, CrossFieldError) else None
        raise ConfigError(_field_of(exc), message or first["msg"]) from exc


def parse_set_option(item: str) -> tuple[str, Any]:
    """Parse ``key=value`` from ``--set``; the value is read as TOML so types survive."""
    if "=" not in item:
        raise ConfigError("--set", f"expected KEY=VALUE, got {item!r}")
    key, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value


def stored_run_config(text: str) -> RunConfig:
    """A run directory's ``config.json``, read as the run was trained.

    Runs written before conditional models existed have no ``model.conditional`` key and were
    unconditional; the current default (conditional) must not be read into them.
    """
    try:
        tree = json.loads(text)
    except ValueError:
        return RunConfig.model_validate_json(text)  # raises pydantic's error, naming the problem
    if isinstance(tree, dict) and isinstance(tree.get("model"), dict):
        tree["model"].setdefault("conditional", False)
    return RunConfig.model_validate(tree)
