"""Settings are typed, documented, and refuse unsafe production configurations."""

from __future__ import annotations

from pathlib import Path

import pytest

from epistola.config import Settings, describe_settings, load_settings
from epistola.errors import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_every_setting_is_described_and_documented() -> None:
    documented = DOCS.read_text(encoding="utf-8")
    for name, _default, meaning in describe_settings():
        assert meaning, f"{name} has no description"
        assert f"`{name}`" in documented, f"{name} is missing from docs/settings.md"
    assert len(describe_settings()) == len(Settings.model_fields)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EPISTOLA_SMTP_PORT", "2525")
    monkeypatch.setenv("EPISTOLA_PUBLIC_BASE_URL", "https://mail.example.com/")
    settings = load_settings()
    assert settings.smtp_port == 2525 and settings.public_base_url == "https://mail.example.com"


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env="production")
    assert caught.value.problems[0].field == "EPISTOLA_SECRET_KEY"
    ok = load_settings(env="production", secret_key="x" * 40)
    assert ok.env == "production"


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"smtp_port": 0}, "EPISTOLA_SMTP_PORT"),
        ({"database_url": "mysql://x"}, "EPISTOLA_DATABASE_URL"),
        ({"smtp_security": "ssl"}, "EPISTOLA_SMTP_SECURITY"),
        ({"public_base_url": "ftp://x"}, "EPISTOLA_PUBLIC_BASE_URL"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, object], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**overrides)
    assert caught.value.problems[0].field == variable
