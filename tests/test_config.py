"""Settings: defaults, validation and one-line errors."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, InstagramFlavor, load_settings

REQUIRED = {
    "TELEGRAM_BOT_TOKEN": "123456:TEST-token",
    "INSTAGRAM_CLIENT_ID": "1234567890",
    "INSTAGRAM_CLIENT_SECRET": "app-secret-value",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Start every test from an empty environment and a folder without .env."""
    for name in [
        *REQUIRED,
        "TELEGRAM_API_URL",
        "TELEGRAM_WEBHOOK_SECRET",
        "INSTAGRAM_API",
        "INSTAGRAM_GRAPH_VERSION",
        "PUBLIC_URL",
        "HTTP_PORT",
        "DATABASE_URL",
        "REFRESH_BEFORE_DAYS",
        "LOG_LEVEL",
    ]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def set_required(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)


def test_defaults_match_the_documented_values(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)

    settings = load_settings()

    assert settings.telegram_api_base == "https://api.telegram.org"
    assert settings.instagram_api is InstagramFlavor.INSTAGRAM_LOGIN
    assert settings.instagram_graph_version == "v25.0"
    assert settings.redirect_uri == "http://localhost:8080/oauth/callback"
    assert settings.http_port == 8080
    assert settings.database_url == "sqlite:///data/gramlink.db"
    assert settings.refresh_interval_seconds == 3600
    assert settings.refresh_before_days == 10
    assert settings.poll_interval_seconds == 300
    assert settings.log_level == "INFO"
    assert settings.webhook_mode is False


def test_missing_bot_token_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSTAGRAM_CLIENT_ID", "1")
    monkeypatch.setenv("INSTAGRAM_CLIENT_SECRET", "s")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith("TELEGRAM_BOT_TOKEN is required")
    assert "\n" not in message


def test_missing_instagram_app_mentions_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-token")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "INSTAGRAM_CLIENT_ID is required" in str(caught.value)
    assert "--sandbox" in str(caught.value)


def test_sandbox_needs_only_the_bot_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:TEST-token")

    settings = load_settings(sandbox=True)

    assert settings.instagram_client_id is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HTTP_PORT", "eighty"),
        ("HTTP_PORT", "70000"),
        ("INSTAGRAM_API", "graph"),
        ("PUBLIC_URL", "not a url"),
        ("REFRESH_BEFORE_DAYS", "0"),
        ("INSTAGRAM_GRAPH_VERSION", "25"),
        ("DATABASE_URL", "postgres://db/gramlink"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_malformed_value_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    set_required(monkeypatch)
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert message.startswith(f"{name} is invalid")
    assert "\n" not in message


def test_error_never_echoes_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "webhook-secret-value")
    monkeypatch.setenv("HTTP_PORT", "app-secret-value")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert "app-secret-value" not in str(caught.value)


def test_secrets_are_hidden_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)

    settings = load_settings()

    assert "TEST-token" not in repr(settings)
    assert "app-secret-value" not in repr(settings)


def test_settings_read_the_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123456:FROM-FILE\nINSTAGRAM_CLIENT_ID=1\nINSTAGRAM_CLIENT_SECRET=s\n"
        "PUBLIC_URL=https://bot.example.org/\n"
    )

    settings = load_settings()

    assert settings.telegram_bot_token.get_secret_value() == "123456:FROM-FILE"
    assert settings.redirect_uri == "https://bot.example.org/oauth/callback"


def test_load_settings_can_skip_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    (tmp_path / ".env").write_text(
        "TELEGRAM_BOT_TOKEN=123456:FROM-FILE\nPUBLIC_URL=https://bot.example.org/\n"
        "TELEGRAM_WEBHOOK_SECRET=from-file\n"
    )

    settings = load_settings(_env_file=None, sandbox=True, telegram_bot_token="123456:DEMO")

    assert settings.telegram_bot_token.get_secret_value() == "123456:DEMO"
    assert settings.public_url_base == "http://localhost:8080"
    assert settings.telegram_webhook_secret is None


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    set_required(monkeypatch)
    monkeypatch.setenv("LOG_LEVEL", "debug")

    assert load_settings().log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces"),
        ("TELEGRAM_WEBHOOK_SECRET", "x" * 257),
    ],
)
def test_malformed_secret_is_rejected_without_echo(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    set_required(monkeypatch)
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert str(caught.value).startswith(f"{name} is invalid")
    assert value not in str(caught.value)
