"""Activity failures that are safe to record: no secret value, the right retry behaviour."""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from ..observability.redaction import SECRET_VALUES
from ..secrets import SecretError


def scrubbed(error: ApplicationError) -> ApplicationError:
    """The same error with any secret value handed out to this worker blanked.

    Error messages go into the workflow history; a service that echoes the key
    it was sent (in a 4xx body, say) must not put it there.
    """
    message = SECRET_VALUES.scrub(error.message)
    if message == error.message:
        return error
    return ApplicationError(
        message,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )


def secret_application_error(error: SecretError) -> ApplicationError:
    """Outages retry (bounded by the step's policy); denials and missing secrets fail at once.

    The message names the store, path and policy, never a value.
    """
    return ApplicationError(
        str(error), type=type(error).__name__, non_retryable=not error.retryable
    )
