"""The exchanges of one secure round over Flower, in order, and the phase each one closes.

Every exchange is a message of the strategy's own train type (``train``): Flower routes a message
to a registered function before any mod sees it, and the user's ClientApp registers ``train``.
Our record (:data:`~.transport.RECORD`, shared with the PRISM Flower engine) names the stage.
"""

from __future__ import annotations

TRAIN = "train"  # the user's training, then this client's AdvertiseKeys
PROTOCOL = ("share", "masked", "consistency", "unmask")  # one exchange each
ABORT = "abort"  # the round stopped (or this client left it): forget its saved state
REFUSED = "refused"  # the update failed the round's checks: a refusal report, no input

#: the server phase a reply to each stage answers (a node silent there dropped at that phase)
PHASE_OF = {TRAIN: "advertise", **{stage: stage for stage in PROTOCOL}}
