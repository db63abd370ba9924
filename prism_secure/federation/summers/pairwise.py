"""SecAgg / SecAgg+ through the sans-IO state machines of :mod:`prism_secure.protocols`."""

from __future__ import annotations

from prism_secure.config import SecureAggConfig
from prism_secure.federation.summers.base import MaskSummer, SumOutcome, SumRequest, outcome_of
from prism_secure.federation.summers.policy import chosen_parameters


class PairwiseSum(MaskSummer):
    """Pairwise masking; t and k per round from :func:`chosen_parameters` at the planned dropout."""

    name = "pairwise"

    def __init__(
        self, cfg: SecureAggConfig, planned_dropout: float = 0.0, record_transcript: bool = False
    ) -> None:
        self.cfg = cfg
        self.planned_dropout = planned_dropout
        self.record_transcript = record_transcript

    def _sum(self, request: SumRequest) -> SumOutcome:
        from prism_secure.protocols.secagg.driver import run_secure_sum

        chosen = chosen_parameters(self.cfg, len(request.inputs), self.planned_dropout)
        res = run_secure_sum(
            request.inputs,
            threshold=chosen["threshold"],  # type: ignore[arg-type]
            graph=self.cfg.graph,
            neighbours=chosen["neighbours"],  # type: ignore[arg-type]
            round_index=request.round_index,
            model_digest=request.model_digest,
            dropouts=request.dropouts or None,
            record_transcript=self.record_transcript,
        )
        return outcome_of(res, request.started)

    def dropout_phases(self) -> list[str]:
        from prism_secure.protocols.secagg.driver import phase_names

        return phase_names()
