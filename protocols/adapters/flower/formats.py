"""Where an update sits in Flower's content: the Message API's records, or the legacy FitRes.

Message API (``flwr.serverapp.strategy``): the instruction holds the global model in the
ArrayRecord ``array_key`` (``"arrays"`` for FedAvg), the user's reply its update in the record of
the same name and its weight as ``weight_key`` (``"num-examples"``) in a MetricRecord. Legacy
(``NumPyClient``, ``DefaultWorkflow``): ``fitins.parameters`` and ``fitres.parameters``, whose
arrays are unnamed ``.npy`` tensors (named ``"0"``, ``"1"``, ... here), and
``fitres.num_examples``. The arrays read here are this side's own (the strategy's model, the
user's update): nothing a peer sent is parsed by this module.
"""

from __future__ import annotations

import io

import numpy as np
from flwr.app import Array, ArrayRecord, MetricRecord, RecordDict
from flwr.common import Code, FitRes, Parameters, Status
from flwr.compat.common.recorddict_compat import fitres_to_recorddict

from prism_secure.protocols.adapters.flower.errors import UpdateRefused
from prism_secure.protocols.adapters.flower.quantise import AggregateUpdate
from prism_secure.protocols.adapters.flower.round_setup import LEGACY_WEIGHT, Format, RoundSetup

EMPTY = "_empty"  # Flower's placeholder key of an empty legacy Parameters


def record_arrays(record: ArrayRecord, fmt: Format) -> dict[str, np.ndarray]:
    """The numpy arrays of a record, in its order (legacy: ``"0"``, ``"1"``, ...)."""
    if fmt == "message":
        return {str(k): v.numpy() for k, v in record.items()}
    tensors = [v.data for k, v in record.items() if k != EMPTY]
    return {str(i): np.load(io.BytesIO(t), allow_pickle=False) for i, t in enumerate(tensors)}


def update_of(content: RecordDict, setup: RoundSetup) -> tuple[dict[str, np.ndarray], object]:
    """The user's update and its weight (None when absent); a bad reply raises UpdateRefused."""
    cid, key = setup.client, setup.update_key
    if setup.format == "legacy":
        _check_legacy_status(content, cid)
    record = content.array_records.get(key)
    if record is None:
        raise UpdateRefused(cid, key, "missing", "the training reply holds no such ArrayRecord")
    try:
        arrays = record_arrays(record, setup.format)
    except (ValueError, TypeError, OSError) as exc:
        raise UpdateRefused(cid, key, "dtype", f"arrays that do not load: {exc}") from None
    return arrays, _weight(content, setup)


def _check_legacy_status(content: RecordDict, cid: int) -> None:
    status = content.config_records.get("fitres.status")
    code = None if status is None else status.get("code")
    if code != Code.OK.value:
        message = "" if status is None else str(status.get("message", ""))[:200]
        raise UpdateRefused(cid, "fitres.status", "missing", f"fit reported {code}: {message}")


def _weight(content: RecordDict, setup: RoundSetup) -> object:
    if setup.format == "legacy":
        record = content.metric_records.get("fitres.num_examples")
        return None if record is None else record.get(LEGACY_WEIGHT)
    for record in content.metric_records.values():
        if setup.weight_key in record:
            return record[setup.weight_key]
    return None


def aggregate_content(
    agg: AggregateUpdate, fmt: Format, array_key: str, weight_key: str
) -> RecordDict:
    """One reply holding the survivors' weighted mean, as the strategy expects a client's.

    Its weight is the survivors' total weight: a weighted mean of this one reply is the mean
    itself. ``secagg-survivors`` and ``secagg-clipped`` go with it as metrics.
    """
    mean = agg.mean()
    extra = {"secagg-survivors": agg.clients, "secagg-clipped": agg.clipped}
    if fmt == "message":
        metrics = MetricRecord({weight_key: agg.total_weight, **extra})
        arrays = ArrayRecord({k: Array(v) for k, v in mean.items()})
        return RecordDict({array_key: arrays, "metrics": metrics})
    parameters = Parameters(tensors=[_npy(v) for v in mean.values()], tensor_type="numpy.ndarray")
    fitres = FitRes(Status(Code.OK, "secure aggregate"), parameters, agg.total_weight, extra)
    return fitres_to_recorddict(fitres, keep_input=False)


def _npy(value: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, value, allow_pickle=False)
    return out.getvalue()


def without(content: RecordDict, name: str) -> RecordDict:
    """A copy of ``content`` without the record ``name`` (the records themselves are shared)."""
    return RecordDict({k: v for k, v in content.items() if k != name})
