"""Deterministic workflow code: the agent loop and the approval gate.

Runs inside Temporal's sandbox and is replayed: no I/O, no clock, no imports
of activities, the runtime or anything above them.
"""
