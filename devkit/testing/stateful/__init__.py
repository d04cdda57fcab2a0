"""Stateful fuzzing of a Flow: a Hypothesis state machine of posts, faults and replica kills.

``flow_state_machine(make_flow, endpoints=['/index']).TestCase`` is a test; a failure is
shrunk to the shortest failing sequence and printed as a :class:`FlowDriver` test to paste.
"""

from devkit.testing.stateful.driver import FlowDriver, InvariantViolation, PostOutcome, Replica
from devkit.testing.stateful.machine import DEFAULT_SETTINGS, Post, flow_state_machine

__all__ = [
    "DEFAULT_SETTINGS",
    "FlowDriver",
    "InvariantViolation",
    "Post",
    "PostOutcome",
    "Replica",
    "flow_state_machine",
]
