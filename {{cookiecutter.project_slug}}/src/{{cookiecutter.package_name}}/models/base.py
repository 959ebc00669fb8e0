"""The base of every model that crosses a Temporal boundary."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    # Unknown fields are ignored, so workers of two versions can share a run during a deploy.
    model_config = ConfigDict(extra="ignore")
