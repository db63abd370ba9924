"""The application layer: a validated configuration in, a finished run directory out.

:func:`train_run` orchestrates; the parts it calls each do one job: building what every party
rebuilds from the config (:mod:`.generator`), each client's one DP release (:mod:`.clients`),
the server's checkpoint (:mod:`.checkpoints`), per-round tracking from public data
(:mod:`.tracking`), the exported model (:mod:`.export`). Progress reaches a user interface
through :class:`~prism_secure.app.events.TrainingEvents`; the CLI's lives in ``cli/``.
"""

from prism_secure.app.events import SilentEvents, TrainingEvents
from prism_secure.app.train import train_run

__all__ = ["SilentEvents", "TrainingEvents", "train_run"]
