"""Assignment strategies: pure functions from eligible candidates to one pick.

No Faust, no Kafka: the same functions run in the worker, the unit tests and the
offline simulator, so a decision made live can be reproduced exactly.
"""

from strategies.base import STRATEGIES, Candidate, Pick, PickContext, pick
from strategies.least_load import least_load
from strategies.round_robin import round_robin

__all__ = [
    "STRATEGIES",
    "Candidate",
    "Pick",
    "PickContext",
    "least_load",
    "pick",
    "round_robin",
]
