"""The client facade: one state per step, readable by name, replaced only when a step succeeds."""

from __future__ import annotations

import numpy as np

from prism_secure.protocols.secagg.client.states.aborted import AbortedState
from prism_secure.protocols.secagg.client.states.advertise import AdvertiseKeysState
from prism_secure.protocols.secagg.client.states.completed import CompletedState
from prism_secure.protocols.secagg.client.states.consistency import ConsistencyState
from prism_secure.protocols.secagg.client.states.masked_input import MaskedInputState
from prism_secure.protocols.secagg.client.states.share_keys import ShareKeysState
from prism_secure.protocols.secagg.client.states.unmask import UnmaskState


def test_honest_lab_completes(lab) -> None:
    lab.deliver(lab.reach(4))
    lab.next_for_victim()
    total = lab.server.result().total
    np.testing.assert_array_equal(total, sum(v.astype(np.int64) for v in lab.inputs.values()))


def test_states_in_order_each_a_type_with_a_name(lab) -> None:
    seen = [type(lab.victim.current_state)]
    for _ in range(4):
        lab.deliver(lab.next_for_victim())
        seen.append(type(lab.victim.current_state))
    assert seen == [ShareKeysState, MaskedInputState, ConsistencyState, UnmaskState, CompletedState]
    assert [s.NAME for s in seen] == ["share", "masked", "consistency", "unmask", "done"]
    assert lab.victim.state == "done" and lab.victim.is_completed and not lab.victim.is_aborted
    assert lab.victim.masking_seconds > 0
    names = {AdvertiseKeysState.NAME, AbortedState.NAME}
    assert names == {"advertise", "aborted"}


def test_facade_exposes_the_round(lab) -> None:
    client = lab.victim
    assert (client.id, client.round, client.model_digest) == (0, lab.ROUND, lab.DIGEST)
    assert client.params == lab.PARAMS and client.session_id == b""
    lab.deliver(lab.reach(1))
    assert client.session_id == lab.server.session_id
    assert "secret" not in repr(client.current_state) and "vector" not in repr(client.current_state)
