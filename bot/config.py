"""Settings read from the environment and an optional `.env` file."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConfigError", "InstagramFlavor", "Settings", "load_settings"]

_BOT_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]+")
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class InstagramFlavor(StrEnum):
    """Instagram API flavor that the client speaks."""

    INSTAGRAM_LOGIN = "instagram_login"
    BASIC_DISPLAY = "basic_display"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line meant for the operator."""


class Settings(BaseSettings):
    """Every setting of the bot; names match the environment variables."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    telegram_bot_token: SecretStr
    telegram_api_url: AnyHttpUrl = AnyHttpUrl("https://api.telegram.org")
    telegram_webhook_secret: SecretStr | None = None

    instagram_client_id: str | None = None
    instagram_client_secret: SecretStr | None = None
    instagram_api: InstagramFlavor = InstagramFlavor.INSTAGRAM_LOGIN
    instagram_authorize_url: AnyHttpUrl | None = None
    instagram_api_url: AnyHttpUrl | None = None
    instagram_graph_url: AnyHttpUrl | None = None
    instagram_graph_version: str = Field(default="v25.0", pattern=r"^v\d+\.\d+$")

    public_url: AnyHttpUrl = AnyHttpUrl("http://localhost:8080")
    # Listen on every interface by default so that Meta and Telegram can reach the routes.
    http_host: str = "0.0.0.0"
    http_port: int = Field(default=8080, ge=0, le=65535)

    database_url: str = "sqlite:///data/gramlink.db"
    token_encryption_key: SecretStr | None = None

    refresh_interval_seconds: int = Field(default=3600, ge=1)
    refresh_before_days: int = Field(default=10, ge=1, le=59)
    refresh_concurrency: int = Field(default=8, ge=1, le=256)
    poll_interval_seconds: int = Field(default=300, ge=1)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    # Sandbox mode serves the embedded Instagram sandbox from the bot's own web server and
    # fills in its app credentials. `--sandbox` sets it, and so does SANDBOX=true.
    sandbox: bool = Field(default=False, exclude=True)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("telegram_bot_token")
    @classmethod
    def _check_bot_token(cls, value: SecretStr) -> SecretStr:
        if not _BOT_TOKEN.fullmatch(value.get_secret_value()):
            raise ValueError("expected the token from @BotFather, shaped like 123456789:AAE...")
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram accepts 1-256 characters from this set for secret_token.
        if value is not None and not _WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError("use 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if not value.startswith("sqlite:///"):
            raise ValueError(
                "only sqlite:///PATH is supported, for example sqlite:///data/gramlink.db"
            )
        return value

    @model_validator(mode="after")
    def _require_instagram_app(self) -> Settings:
        if self.sandbox:
            return self
        if not self.instagram_client_id:
            raise ValueError(
                "INSTAGRAM_CLIENT_ID is required; set it to the app id from the Meta developer "
                "dashboard, or start with --sandbox"
            )
        if (
            self.instagram_client_secret is None
            or not self.instagram_client_secret.get_secret_value()
        ):
            raise ValueError(
                "INSTAGRAM_CLIENT_SECRET is required; set it to the app secret from the Meta "
                "developer dashboard, or start with --sandbox"
            )
        return self

    @property
    def redirect_uri(self) -> str:
        """The OAuth redirect URI registered with Meta."""
        return f"{self.public_url_base}/oauth/callback"

    @property
    def public_url_base(self) -> str:
        """`PUBLIC_URL` without a trailing slash."""
        return str(self.public_url).rstrip("/")

    @property
    def telegram_api_base(self) -> str:
        """`TELEGRAM_API_URL` without a trailing slash."""
        return str(self.telegram_api_url).rstrip("/")

    @property
    def webhook_mode(self) -> bool:
        """Whether updates arrive by webhook instead of long polling."""
        return self.telegram_webhook_secret is not None


def load_settings(**overrides: Any) -> Settings:
    """Read settings, turning the first validation problem into a one-line ConfigError.

    Overrides take precedence over the environment and `.env`; `_env_file=None` skips `.env`.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc)) from None


def _describe_validation_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = [str(part) for part in error.get("loc", ()) if part != "__root__"]
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not location:
        return message
    name = location[0].upper()
    if error.get("type") == "missing":
        return f"{name} is required; set it in the environment or in .env"
    return f"{name} is invalid: {message}"
