"""Black-box membership-inference attacks on generators: every score is "higher = member"."""

from prism_secure.audits.attacks.density_ratio import density_ratio_scores, log_density
from prism_secure.audits.attacks.embedding import PcaEmbedding
from prism_secure.audits.attacks.monte_carlo import ball_radius, monte_carlo_scores
from prism_secure.audits.attacks.nearest_neighbour import (
    calibrated_nearest_neighbour_scores,
    nearest_neighbour_scores,
)
from prism_secure.audits.attacks.registry import (
    ATTACKS,
    AttackInputs,
    AttackSkipped,
    parse_attack_names,
)

__all__ = [
    "ATTACKS",
    "AttackInputs",
    "AttackSkipped",
    "PcaEmbedding",
    "ball_radius",
    "calibrated_nearest_neighbour_scores",
    "density_ratio_scores",
    "log_density",
    "monte_carlo_scores",
    "nearest_neighbour_scores",
    "parse_attack_names",
]
