"""The primary LLM's circuit breaker as a state machine, on an injected clock."""

from __future__ import annotations

from {{ cookiecutter.package_name }}.activities.llm_breaker import (
    BreakerState,
    CircuitBreaker,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(subject: CircuitBreaker) -> BreakerState:
    return subject.state  # read through a call: each read is fresh (mypy would narrow it)


def breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=2, cooldown_seconds=30, clock=clock)


def test_opens_after_the_threshold_of_failures_in_a_row() -> None:
    clock = Clock()
    subject = breaker(clock)
    subject.record_failure()
    assert state(subject) is BreakerState.CLOSED
    assert subject.allow_primary()
    subject.record_failure()
    assert state(subject) is BreakerState.OPEN
    assert not subject.allow_primary()
    clock.now += 29.9
    assert not subject.allow_primary()


def test_a_success_resets_the_count() -> None:
    subject = breaker(Clock())
    subject.record_failure()
    subject.record_success()
    subject.record_failure()
    assert state(subject) is BreakerState.CLOSED


def test_after_the_cooldown_one_probe_goes_to_the_primary_and_its_success_closes() -> None:
    clock = Clock()
    subject = breaker(clock)
    subject.record_failure()
    subject.record_failure()
    clock.now += 30
    assert state(subject) is BreakerState.HALF_OPEN
    assert subject.allow_primary()  # the probe
    assert not subject.allow_primary()  # others keep using the fallback meanwhile
    subject.record_success()
    assert state(subject) is BreakerState.CLOSED
    assert subject.allow_primary()


def test_a_failed_probe_opens_it_for_another_cooldown() -> None:
    clock = Clock()
    subject = breaker(clock)
    subject.record_failure()
    subject.record_failure()
    clock.now += 31
    assert subject.allow_primary()
    subject.record_failure()
    assert state(subject) is BreakerState.OPEN
    clock.now += 29
    assert not subject.allow_primary()
    clock.now += 1
    assert subject.allow_primary()


def test_a_lost_probe_expires_so_the_primary_is_tried_again() -> None:
    clock = Clock()
    subject = breaker(clock)
    subject.record_failure()
    subject.record_failure()
    clock.now += 30
    assert subject.allow_primary()  # the probe's call never reports back (worker task cancelled)
    clock.now += 29
    assert not subject.allow_primary()
    clock.now += 1
    assert subject.allow_primary()
