"""Service settings, read from ``TRIAGE_*`` environment variables (and an optional ``.env`` file)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from triage.text import MAX_TEXT_CHARS

#: The heads whose review threshold may be overridden.
THRESHOLD_HEADS = ("category", "unit")
#: API keys shorter than this are refused: they would be guessable.
MIN_API_KEY_CHARS = 16


def _split_list(value: object) -> object:
    """Accept ``"a,b"`` (or a JSON list) from the environment as well as a Python list."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            import json

            return json.loads(value)
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class Settings(BaseSettings):
    """What an operator can set. Every field reads ``TRIAGE_<NAME>``, e.g. ``TRIAGE_MAX_TEXT_CHARS=5000``."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_", env_file=".env", env_ignore_empty=True, extra="ignore", protected_namespaces=(),
        hide_input_in_errors=True,  # never echo an API key into a start-up error
    )

    model_dir: Path | None = Field(None, description="model directory; default: triage's (models/default)")
    max_text_chars: int = Field(20_000, ge=1, le=MAX_TEXT_CHARS, description="longest text accepted (413 beyond)")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest JSON request body (413 beyond)")
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="largest uploaded file (413 beyond)")
    max_batch_items: int = Field(100, ge=1, le=10_000, description="most items in one /v1/classify/batch call")
    thresholds: dict[str, float] | None = Field(
        None, description='review thresholds overriding the model\'s, e.g. {"category": 0.5, "unit": 0.8}'
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list, description="comma-separated origins")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="comma-separated keys; when set, /v1 needs `Authorization: Bearer <key>`"
    )

    # -- the review desk (issue #13) --
    db_url: str | None = Field(
        None, description="letter store, e.g. sqlite:///triage.db or postgresql://user@host/db; "
        "unset: no desk (`triage serve` sets sqlite:///triage.db)"
    )
    store_raw_text: bool = Field(False, description="store letters unmasked (default: phone and ID numbers masked)")
    retention_days: int | None = Field(None, ge=0, description="erase stored texts older than this many days")
    deadlines_file: Path | None = Field(None, description="response deadlines per category; default data/deadlines.toml")

    _split = field_validator("cors_origins", "api_keys", mode="before")(_split_list)

    @field_validator("thresholds")
    @classmethod
    def _check_thresholds(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if not value:
            return None
        unknown = sorted(set(value) - set(THRESHOLD_HEADS))
        if unknown:
            raise ValueError(f"unknown threshold head(s) {unknown}; use {list(THRESHOLD_HEADS)}")
        bad = {k: v for k, v in value.items() if not 0.0 <= v <= 1.0}
        if bad:
            raise ValueError(f"thresholds must lie in [0, 1]; got {bad}")
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        from .roles import (
            parse_key,  # entries may be `role:name:key`; the key part must be long enough
        )

        short = [k for k in value if len(parse_key(k.get_secret_value())[2]) < MIN_API_KEY_CHARS]
        if short:
            raise ValueError(
                f"{len(short)} API key(s) shorter than {MIN_API_KEY_CHARS} characters; "
                "generate keys with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return value


@lru_cache
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
