"""The server's settings for secure rounds over Flower: quantisation, parameters, deadlines."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from prism_secure.protocols.adapters.flower.errors import parse_config
from prism_secure.protocols.adapters.flower.layout import ArrayLayout
from prism_secure.protocols.adapters.flower.quantise_config import QuantiseConfig


class SecAggConfig(BaseModel):
    """How :class:`~.workflow.SecAggGrid` runs each secure round.

    - ``quantise``: clipping range, grid and ``max_weight`` (``None``: an unweighted mean);
      ``fit_bits`` refines the grid to the finest whose sum of the round's n updates fits that
      many bits (32 keeps the protocol's packing a word copy); ``None`` keeps ``levels_bits``.
    - ``layout``: the update's names, shapes and dtypes; by default the global model's.
    - parameters: ``threshold`` (with ``graph`` / ``neighbours``) fixes them, checked by the
      split-view rule; otherwise the parameter finder picks them from n, ``dropout`` (the rate to
      plan for) and ``stall_target``. Insecure explicit parameters are refused
      (:class:`~.errors.InsecureParametersError`); ``allow_insecure`` turns the refusal into a
      loud warning and marks the session insecure; nodes run it only if their mod allows it.
    - deadlines (seconds): ``train_timeout`` for the train exchange (local training included),
      ``phase_timeout`` for each protocol exchange; a node that errs or misses one drops out
      there. ``poll``: the longest wait between pulls of replies (the first is 0.05 s).
    - ``array_key`` / ``weight_key``: where the Message API's content holds the model and
      update, and the weight (FedAvg's defaults).
    - ``on_abort``: below the threshold a round releases nothing; ``"skip"`` answers the
      strategy with error replies only (it keeps its model), ``"raise"`` raises
      :class:`~.errors.SecureRoundAborted`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    quantise: QuantiseConfig = QuantiseConfig()
    fit_bits: int | None = Field(default=32, ge=2, le=62)
    layout: ArrayLayout | None = None
    dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    stall_target: float = Field(default=1e-6, gt=0.0, le=1.0)
    threshold: int | None = Field(default=None, ge=2)
    graph: Literal["full", "sparse"] | None = None
    neighbours: int | None = Field(default=None, ge=2)
    allow_insecure: bool = False
    train_timeout: float = Field(default=600.0, ge=0.0)
    phase_timeout: float = Field(default=60.0, ge=0.0)
    poll: float = Field(default=0.2, gt=0.0, le=10.0)
    array_key: str = Field(default="arrays", min_length=1, max_length=256)
    weight_key: str = Field(default="num-examples", min_length=1, max_length=256)
    on_abort: Literal["skip", "raise"] = "skip"

    @classmethod
    def parse(cls, values: dict[str, object]) -> SecAggConfig:
        """Validate, turning pydantic's error into a :class:`ConfigError` naming the field."""
        return parse_config(cls, values)
