"""Typed configs of ``stepforge review push`` and ``pull`` (the CLI flags are generated from them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_serializer, field_validator

from engines import redact
from review.client import Connection, connection_from_env


class ArgillaConfig(BaseModel):
    """Where the review dataset lives and how to reach it."""

    model_config = ConfigDict(extra="forbid")

    api_url: str | None = Field(
        default=None, description="Argilla API URL (default: $ARGILLA_API_URL or http://localhost:6900)")
    api_key_env: str = Field(
        default="ARGILLA_API_KEY",
        description="name of the environment variable holding the API key (keys never go on the command line)")
    workspace: str | None = Field(
        default=None, description="Argilla workspace (default: the first one the user belongs to)")
    dataset: str = Field(default="stepforge-disputed", description="Argilla dataset name")
    timeout: float = Field(default=30.0, gt=0, description="seconds to wait for one Argilla request")
    retries: int = Field(default=4, ge=0, description="retries of a failed request (network, timeout, 5xx)")
    backoff: float = Field(default=1.0, ge=0, description="first retry delay in seconds, doubled per retry")

    @field_validator("api_url")
    @classmethod
    def _register_password(cls, url: str | None) -> str | None:
        redact.register_url(url)  # a password in the URL is masked from the moment it is read
        return url

    @field_serializer("api_url", when_used="json")
    def _masked_url(self, url: str | None) -> str | None:
        return redact.mask_url(url) if url else url  # Prefect stores flow parameters as JSON

    def connection(self) -> Connection:
        return connection_from_env(self.api_url, self.api_key_env, self.timeout, self.retries, self.backoff)


class PushConfig(ArgillaConfig):
    """Which disputed solutions go to Argilla, and how the dataset is set up when created."""

    strategy: str | None = Field(
        default=None, description="only solutions disputed under this consensus strategy (default: any)")
    limit: int | None = Field(default=None, ge=1, description="push at most this many new records")
    min_priority: float | None = Field(default=None, description="skip solutions below this priority")
    max_steps: int = Field(
        default=30, ge=1, le=200,
        description="longest solution pushed (one dataset per step count offers exactly its steps)")
    visible_labels: int = Field(
        default=31, ge=3, description="labels shown before 'more' in the UI (default: every step up to 30)")
    min_submitted: int = Field(
        default=1, ge=1, description="submitted reviews that complete a record (2+ for agreement)")
    update: bool = Field(
        default=False,
        description="re-send records already in the dataset (refreshes fields and metadata; responses kept)")
    batch_size: int = Field(default=100, ge=1, le=1000, description="records per Argilla request")


class PullConfig(ArgillaConfig):
    """Reading responses back into the lake."""

    batch_size: int = Field(default=500, ge=1, le=1000, description="records per Argilla request")


SERVE_KEYS = {"port", "data_dir"}


def section_for(model: type[BaseModel], section: dict) -> dict:
    """The keys of the project config's ``review`` section that ``model`` takes; a key that no
    review command takes is an error naming it (a typo must not be silently ignored)."""
    known = set(PushConfig.model_fields) | set(PullConfig.model_fields) | SERVE_KEYS
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"review section: unknown key(s) {', '.join(unknown)}")
    return {k: v for k, v in section.items() if k in model.model_fields}
