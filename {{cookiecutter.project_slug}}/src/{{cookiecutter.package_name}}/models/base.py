"""The base of every model that crosses a Temporal boundary."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer


class _Model(BaseModel):
    # Unknown fields are ignored, so workers of two versions can share a run during a deploy.
    model_config = ConfigDict(extra="ignore")


class _Input(_Model):
    """A request that callers write by hand (``temporal workflow start --input``, signals).

    Unknown fields are refused, so a typo is an error rather than an ignored option. That
    also makes a worker refuse a field it predates, so an empty optional field is left out
    of the payload: a client upgraded before the workers (a rolling deploy) sends nothing
    an old worker does not know, unless the caller really uses the new field.
    """

    model_config = ConfigDict(extra="forbid")

    @model_serializer(mode="wrap")
    def _leave_out_empty(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields = type(self).model_fields
        data: dict[str, Any] = handler(self)
        return {
            name: value
            for name, value in data.items()
            if value is not None or name not in fields or fields[name].default is not None
        }
