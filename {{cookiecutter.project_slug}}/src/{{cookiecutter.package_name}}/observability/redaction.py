"""Keep secrets out of logs: a structlog processor that redacts them.

Two rules, applied to every event dict (nested dicts, lists and tuples too):

* a value whose key names a secret (``api_key``, ``token``, ``password``,
  ``authorization``, ``secret`` and their usual variants such as
  ``vault_token``, ``x-api-key`` or ``client_secret``) is replaced whole;
* any string that contains a value the secret provider has handed out is
  scrubbed of it, wherever it appears (a message, an exception text, a URL).

The provider registers every value it returns in ``SECRET_VALUES``, so a secret
that reaches a log line by accident (an f-string, a traceback) is still
removed. Put ``RedactSecrets`` last before the renderer, after
``format_exc_info``, so formatted tracebacks are scrubbed too, and
``ScrubRendered`` after the renderer to catch secrets inside the ``repr`` of
arbitrary objects::

    structlog.configure(processors=[..., format_exc_info, RedactSecrets(),
                                    JSONRenderer(), ScrubRendered()])
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, MutableMapping
from typing import Any

REDACTED = "[REDACTED]"

# Key names whose last word says "this is a secret". Matching the last word
# keeps counters such as ``total_tokens`` or ``token_budget`` readable.
_SECRET_KEY = re.compile(
    r"(?:^|_)(?:api_?key|apikey|token|access_token|refresh_token|id_token|password|passwd"
    r"|passphrase|authorization|auth_header|secret|secrets|secret_id|client_secret"
    r"|secret_key|private_key|credentials?|cookie)$"
)
# Values shorter than this are not scrubbed from free text: a two-letter
# "secret" would shred every log line while protecting nothing.
MIN_SCRUBBED_LENGTH = 6


def is_secret_key(key: object) -> bool:
    """True when a key's name says its value is a secret."""
    return isinstance(key, str) and _is_secret_name(key)


# Log lines repeat the same few keys: deciding once per key name takes redaction
# from about a third of a log line's cost to almost nothing (bench/micro.py).
@functools.lru_cache(maxsize=4096)
def _is_secret_name(key: str) -> bool:
    normalised = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower().replace("-", "_")
    return _SECRET_KEY.search(normalised) is not None


class SecretRegistry:
    """Values handed out by the secret provider; thread-safe, grows only."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        # Reentrant: while the pattern compiles under the lock, the garbage collector
        # may run a finalizer that logs (an HTTP client's __del__), and logging scrubs
        # on this same thread; a plain Lock deadlocked the process there.
        self._lock = threading.RLock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, *values: str) -> None:
        with self._lock:
            new = {v for v in values if len(v) >= MIN_SCRUBBED_LENGTH} - self._values
            if new:
                self._values |= new
                self._pattern = None

    def update(self, values: Iterable[str]) -> None:
        self.add(*values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def __len__(self) -> int:
        return len(self._values)

    def scrub(self, text: str) -> str:
        pattern = self._compiled()
        return text if pattern is None else pattern.sub(REDACTED, text)

    def longest_prefix_at_end(self, text: str) -> int:
        """The length of the longest tail of ``text`` that begins some secret value.

        Text sent in pieces (a streamed reply) holds that tail back until the next
        piece, so a secret cut in two is still scrubbed whole.
        """
        with self._lock:
            values = list(self._values)
        best = 0
        for value in values:
            for size in range(min(len(value) - 1, len(text)), best, -1):
                if value.startswith(text[len(text) - size :]):
                    best = size
                    break
        return best

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._values:
                # Longest first, so a secret that contains another is removed whole.
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            return self._pattern


# The process-wide registry the secret provider fills.
SECRET_VALUES = SecretRegistry()


class RedactSecrets:
    """structlog processor: ``structlog.configure(processors=[..., RedactSecrets(), renderer])``."""

    def __init__(self, registry: SecretRegistry = SECRET_VALUES) -> None:
        self._registry = registry

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            event_dict[key] = self._clean(key, value)
        return event_dict

    def _clean(self, key: object, value: Any) -> Any:
        if is_secret_key(key) and value is not None and value != "":
            return REDACTED
        if isinstance(value, str):
            return self._registry.scrub(value)
        if isinstance(value, bytes):
            text = value.decode("utf-8", "replace")
            scrubbed = self._registry.scrub(text)
            return value if scrubbed == text else scrubbed.encode()
        if isinstance(value, dict):
            return {k: self._clean(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return type(value)(self._clean(None, v) for v in value)
        if isinstance(value, BaseException):
            text = self._registry.scrub(str(value))
            return value if text == str(value) else f"{type(value).__name__}: {text}"
        return value


class ScrubRendered:
    """structlog processor placed after the renderer: scrubs the final line."""

    def __init__(self, registry: SecretRegistry = SECRET_VALUES) -> None:
        self._registry = registry

    def __call__(self, logger: object, method_name: str, rendered: Any) -> Any:
        # ``rendered`` is the renderer's output (str or bytes); typed Any because
        # structlog types every processor as taking an event dict.
        if isinstance(rendered, bytes):
            text = rendered.decode("utf-8", "replace")
            scrubbed = self._registry.scrub(text)
            return rendered if scrubbed == text else scrubbed.encode()
        if isinstance(rendered, str):
            return self._registry.scrub(rendered)
        return rendered


def redact_secrets(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """The processor as a plain function, using the process-wide registry."""
    return _DEFAULT(logger, method_name, event_dict)


_DEFAULT = RedactSecrets()
