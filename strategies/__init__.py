"""Assignment strategies: pure functions from eligible candidates to one pick.

No Faust, no Kafka: the same functions run in the worker, the unit tests and the
offline simulator, so a decision made live can be reproduced exactly.
"""

from strategies.agent_priority import agent_priority
from strategies.base import STRATEGIES, Candidate, Pick, PickContext, pick
from strategies.least_load import least_load
from strategies.longest_idle import longest_idle
from strategies.max_load import max_load
from strategies.random_pick import random_pick
from strategies.ring_all import RING_ALL, ring_all
from strategies.round_robin import round_robin
from strategies.skills import skills

__all__ = [
    "RING_ALL",
    "STRATEGIES",
    "Candidate",
    "Pick",
    "PickContext",
    "agent_priority",
    "least_load",
    "longest_idle",
    "max_load",
    "pick",
    "random_pick",
    "ring_all",
    "round_robin",
    "skills",
]
