"""How exceptions become Temporal failures (and so what callers and the history see).

Two things differ from the SDK's default:

- Bad input (a pydantic ``ValidationError`` while decoding a workflow argument, a
  signal or an update) becomes one readable, **non-retryable** ``ApplicationError``
  naming each bad field, e.g. ``invalid AgentRequest: task: String should have at
  least 1 character``. The default would send the raw multi-line pydantic text as a
  retryable failure, so a caller's retry policy would run the same bad input again.
- With payload encryption, the failure's message and stack trace travel as an
  encoded payload (so the codec encrypts them) instead of plain text in the history.
"""

from __future__ import annotations

import re

from pydantic import ValidationError
from temporalio.api.failure.v1 import Failure
from temporalio.converter import DefaultFailureConverter, PayloadConverter
from temporalio.exceptions import ApplicationError

INVALID_INPUT = "InvalidInput"
# pydantic titles an optional argument "nullable[AgentRequest]"; show the model's name.
_WRAPPED_TITLE = re.compile(r"^\w+\[(.+)\]$")


def describe_invalid_input(error: ValidationError) -> str:
    """``invalid <Model>: field: problem; other.field: problem`` on one line, no docs URLs."""
    title = error.title
    while (wrapped := _WRAPPED_TITLE.match(title)) is not None:
        title = wrapped.group(1)
    problems = "; ".join(
        f"{'.'.join(str(part) for part in detail['loc']) or 'input'}: {detail['msg']}"
        for detail in error.errors(include_url=False)
    )
    return f"invalid {title}: {problems}"


def invalid_input_error(error: ValidationError) -> ApplicationError:
    return ApplicationError(describe_invalid_input(error), type=INVALID_INPUT, non_retryable=True)


class ServiceFailureConverter(DefaultFailureConverter):
    """The default conversion, with validation errors made readable and final."""

    encode_attributes = False

    def __init__(self) -> None:
        # The data converter builds its failure converter from the class, without arguments.
        super().__init__(encode_common_attributes=self.encode_attributes)

    def to_failure(
        self,
        exception: BaseException,
        payload_converter: PayloadConverter,
        failure: Failure,
    ) -> None:
        if isinstance(exception, ValidationError):
            # No cause and no stack: the message says all there is to say about bad input.
            exception = invalid_input_error(exception)
        super().to_failure(exception, payload_converter, failure)


class EncodedFailureConverter(ServiceFailureConverter):
    """As above, with message and stack trace moved into an (encrypted) payload."""

    encode_attributes = True
