"""prism-secure's secure aggregation for Flower apps: quantisation, input checks, parameters.

Nothing here imports Flower or torch; the ClientApp mod and the server workflow that carry the
protocol over Flower messages import Flower themselves.
"""

from prism_secure.protocols.adapters.flower.errors import (
    AggregateError,
    InsecureParametersError,
    InsecureParametersWarning,
    RefusalReport,
    ReportError,
    UpdateRefused,
)
from prism_secure.protocols.adapters.flower.layout import ArrayLayout, ArraySpec, check_update
from prism_secure.protocols.adapters.flower.policy import SecureParams, choose_params, is_secure
from prism_secure.protocols.adapters.flower.quantise import (
    AggregateUpdate,
    QuantisedUpdate,
    dequantise_sum,
    quantise,
)
from prism_secure.protocols.adapters.flower.quantise_config import (
    QuantiseConfig,
    VectorPlan,
    finest_levels,
    plan_vector,
)

__all__ = [
    "AggregateError",
    "AggregateUpdate",
    "ArrayLayout",
    "ArraySpec",
    "InsecureParametersError",
    "InsecureParametersWarning",
    "QuantiseConfig",
    "QuantisedUpdate",
    "RefusalReport",
    "ReportError",
    "SecureParams",
    "UpdateRefused",
    "VectorPlan",
    "check_update",
    "choose_params",
    "dequantise_sum",
    "finest_levels",
    "is_secure",
    "plan_vector",
    "quantise",
]
