"""Before ``start()``: the round's fresh keys and seed are made; starting advertises their public
halves and the seed commitment (AdvertiseKeys)."""

from __future__ import annotations

from dataclasses import dataclass

from prism_secure.protocols.secagg.client.own_keys import BeforeSharing
from prism_secure.protocols.secagg.client.states.base import RoundInfo, Step
from prism_secure.protocols.secagg.client.states.share_keys import ShareKeysState
from prism_secure.protocols.secagg.messages import AdvertiseKeys


@dataclass(frozen=True, repr=False)
class AdvertiseKeysState(BeforeSharing):
    """Nothing sent yet: ``start()`` returns the AdvertiseKeys message."""

    NAME, KIND = "advertise", 1

    def start(self, info: RoundInfo) -> Step:
        share_key, mask_key = self.keys.public_keys()
        message = AdvertiseKeys(
            sender=info.client_id,
            round=info.round_index,
            share_key=share_key,
            mask_key=mask_key,
            seed_commitment=self.keys.commitment(info),
        )
        return Step(ShareKeysState(self.vector, self.keys), message)
