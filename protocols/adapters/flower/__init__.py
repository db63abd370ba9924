"""prism-secure's secure aggregation for Flower apps: the ClientApp mod and the server's Grid.

``prism_secagg_mod`` (client), ``SecAggGrid`` / ``SecAggFitWorkflow`` (server), ``SecAggConfig``
and ``SecureRound`` (what a round gave) need Flower and are imported on first use, so that the
quantisation, the input checks and the parameter policy work without it. Nothing imports torch.
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

_FLOWER = {
    "prism_secagg_mod": "mod",
    "SecAggConfig": "server_config",
    "SecAggFitWorkflow": "workflow",
    "SecAggGrid": "workflow",
    "SecureRound": "round_report",
    "SecureRoundAborted": "errors",
}


def __getattr__(name: str) -> object:
    if name in _FLOWER:
        from importlib import import_module

        module = import_module(f"{__name__}.{_FLOWER[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [  # the Flower names resolve through __getattr__
    "SecAggConfig",
    "SecAggFitWorkflow",
    "SecAggGrid",
    "SecureRound",
    "SecureRoundAborted",
    "prism_secagg_mod",
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
