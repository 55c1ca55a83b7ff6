"""Typed settings, read from the environment (prefix ``EPISTOLA_``) or a ``.env`` file.

Every field carries a description: ``epistola settings`` and docs/settings.md are generated from them,
and a test fails when a setting is undocumented.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from epistola.errors import ConfigError, Problem

DEFAULT_SECRET = "dev-only-insecure-secret-change-me"  # noqa: S105 - refused in production below


class Settings(BaseSettings):
    """Everything Epistola can be told from outside. Defaults run the embedded demo."""

    model_config = SettingsConfigDict(
        env_prefix="EPISTOLA_", env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    env: Literal["development", "test", "production"] = Field(
        "development", description="Run mode; `production` refuses default secrets and the demo SMTP sink."
    )
    database_url: str = Field(
        "sqlite:///./epistola.db",
        description="SQLAlchemy URL of the operational store: `sqlite:///path.db` or `postgresql://user@host/db`.",
    )
    output_dir: Path = Field(Path("./out"), description="Folder for generated files, `.eml` copies, reports.")
    secret_key: SecretStr = Field(
        SecretStr(DEFAULT_SECRET),
        description="Key for signed links (tracking, unsubscribe) and HMAC hashes; at least 32 characters.",
    )
    admin_api_key: SecretStr | None = Field(
        None, description="If set, an API key with the admin role is created on `epistola init`."
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base URL that links in messages point to (tracking, pixel)."
    )
    api_host: str = Field("127.0.0.1", description="Interface `epistola serve` listens on.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port `epistola serve` listens on.")
    api_workers: int = Field(
        1, ge=1, le=64, description="API processes `epistola serve` starts on one port (uvicorn workers)."
    )
    mail_from: str = Field(
        "Epistola Demo <news@epistola.example>", description="From header of e-mails (`Name <address>`)."
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server that e-mail is handed to.")
    smtp_port: int = Field(8025, ge=1, le=65535, description="SMTP server port.")
    smtp_username: str | None = Field(None, description="SMTP AUTH user name (none: no AUTH).")
    smtp_password: SecretStr | None = Field(None, description="SMTP AUTH password.")
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", description="`starttls` upgrades a plain connection, `tls` is implicit TLS (port 465)."
    )
    smtp_timeout_s: float = Field(30.0, gt=0, description="Seconds before an SMTP command times out.")
    smtp_connections: int = Field(4, ge=1, le=256, description="Concurrent SMTP connections per worker.")
    send_batch_size: int = Field(200, ge=1, le=10_000, description="Messages a worker claims at a time.")
    lease_seconds: int = Field(
        300, ge=10, description="How long a claimed batch stays with a worker before others may take it over."
    )
    max_attempts: int = Field(5, ge=1, le=50, description="Attempts before a transient failure becomes final.")
    # --- delivery: DKIM and rate limits (docs/delivery.md) ---
    dkim_domain: str | None = Field(None, description="Domain (d=) e-mail is DKIM-signed for; none: no DKIM signing.")
    dkim_keys: str = Field(
        "",
        description="DKIM keys as comma-separated `selector=path` pairs (RSA PEM or Ed25519); each adds a signature.",
    )
    dkim_headers: str = Field(
        "from:to:subject:date:message-id:mime-version:content-type:reply-to:cc:list-unsubscribe:list-unsubscribe-post",
        description="Header fields DKIM signs, colon-separated; `from` is required.",
    )
    rate_limits: str = Field(
        "",
        description="Per-worker send rates by channel or recipient domain, "
        "e.g. `email=500/s,sms=20/s,@gmail.com=50/s,@*=100/s`.",
    )
    domain_concurrency: str = Field(
        "", description="Concurrent sends per recipient domain per worker, e.g. `@gmail.com=4,@*=16`; none: no limit."
    )
    # --- delivery: SMS, webhook and print adapters (docs/delivery.md) ---
    sms_provider: Literal["smpp", "http"] = Field("smpp", description="How SMS leave: an SMPP 3.4 SMSC or an HTTP API.")
    sms_sender: str = Field(
        "Epistola", description="SMS source address: an E.164 number or an alphanumeric sender id (≤ 11 characters)."
    )
    smpp_host: str = Field("127.0.0.1", description="SMSC host for SMPP.")
    smpp_port: int = Field(2775, ge=1, le=65535, description="SMSC port for SMPP.")
    smpp_system_id: str = Field("epistola", max_length=15, description="SMPP system_id (account name).")
    smpp_password: SecretStr | None = Field(None, description="SMPP password (at most 8 characters).")
    smpp_system_type: str = Field("", max_length=12, description="SMPP system_type, if the SMSC wants one.")
    smpp_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for an SMSC response.")
    smpp_window: int = Field(10, ge=1, le=1000, description="submit_sm requests in flight per SMPP session.")
    sms_http_url: str | None = Field(None, description="SMS provider endpoint that one message is POSTed to.")
    sms_http_headers: SecretStr | None = Field(
        None, description="Extra request headers as `Name: value` pairs separated by `;` (e.g. an API key)."
    )
    sms_http_body: str = Field(
        '{"to": "{to}", "from": "{sender}", "text": "{text}", "reference": "{reference}"}',
        description="JSON body template; `{to}`, `{sender}`, `{text}`, `{reference}` are filled in (JSON-escaped).",
    )
    sms_http_id_path: str = Field(
        "id", description="Where the provider's message id is in its JSON answer, dotted (`messages.0.id`)."
    )
    sms_http_timeout_s: float = Field(10.0, gt=0, description="Seconds before an SMS provider request times out.")
    webhook_url: str | None = Field(None, description="URL that webhook-channel messages are POSTed to.")
    webhook_secret: SecretStr | None = Field(
        None, description="Key for the HMAC-SHA256 `Epistola-Signature` header of webhook calls."
    )
    webhook_timeout_s: float = Field(10.0, gt=0, description="Seconds before a webhook call times out.")
    print_dir: Path = Field(Path("./out/print"), description="Folder for print batches (PDF + CSV manifest).")
    print_command: str | None = Field(
        None, description="Command run for each finished batch, with `{pdf}` and `{manifest}` filled in."
    )
    print_batch_size: int = Field(5000, ge=1, le=100_000, description="Letters per print batch at most.")
    # --- audience: the analytical mart (docs/segments.md) ---
    mart_path: Path = Field(
        Path("./epistola-mart.duckdb"),
        description="DuckDB file of the analytical mart (segment counts, profiles, micro-segments), built from "
        "the operational store by `epistola mart build` and kept fresh incrementally.",
    )
    mart_max_age_s: float = Field(
        300.0, ge=0, description="A count on a mart older than this many seconds refreshes it first; 0: every time."
    )
    audience_engine: Literal["mart", "store"] = Field(
        "mart",
        description="Where segments are counted: `mart` (columnar, milliseconds on millions) or `store` (SQL on "
        "the operational store, for small bases).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log verbosity.")
    # --- privacy: signed links, keyed hashes, consent policy (docs/privacy.md) ---
    secret_key_version: int = Field(
        1, ge=1, le=255, description="Version number of EPISTOLA_SECRET_KEY; raise it when you rotate the secret."
    )
    previous_secret_keys: SecretStr | None = Field(
        None,
        description="Rotated-out secrets as `VERSION=SECRET` pairs, comma-separated: old links and suppression "
        "hashes keep working.",
    )
    consent_policy: str = Field(
        "",
        description="Consent rules laid over the defaults, e.g. `email:marketing:US=opt_out;post:marketing=opt_in` "
        "(channel:purpose[:country]=opt_in|opt_out).",
    )
    unsubscribe_address: str | None = Field(
        None,
        description="Mailbox for `mailto:` unsubscribe requests (`unsubscribe@example.com`; tokens go after a `+`); "
        "none: `unsubscribe@` the EPISTOLA_MAIL_FROM domain.",
    )
    preference_topics: str = Field(
        "news,offers,events,surveys",
        description="Topics a customer can choose in the preference centre, comma-separated keys.",
    )
    sms_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret that signs inbound SMS webhook calls (HMAC-SHA256); none: webhook off."
    )

    # --- feedback: public endpoints, bounces and complaints, events (docs/feedback.md) ---
    public_rate_per_s: float = Field(
        20.0,
        ge=0,
        description="Requests per second each client IP may make to public endpoints (tracking, personal pages, "
        "webhooks) over time; 0: no limit. Each API process keeps its own buckets.",
    )
    public_burst: int = Field(200, ge=1, description="Requests a client IP may make at once before the rate applies.")
    tracking_flush_ms: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="Clicks and opens are written in batches this often (ms); 0: before each answer. Default: 100, "
        "or 0 when EPISTOLA_ENV=test.",
    )
    bounce_maildir: Path | None = Field(None, description="Maildir that bounces and complaint reports arrive in.")
    bounce_imap_host: str | None = Field(None, description="IMAP server of the bounce mailbox (none: not read).")
    bounce_imap_port: int = Field(993, ge=1, le=65535, description="IMAP port of the bounce mailbox.")
    bounce_imap_user: str | None = Field(None, description="IMAP user name of the bounce mailbox.")
    bounce_imap_password: SecretStr | None = Field(None, description="IMAP password of the bounce mailbox.")
    bounce_imap_folder: str = Field("INBOX", description="IMAP folder bounces arrive in.")
    bounce_imap_security: Literal["tls", "starttls", "none"] = Field(
        "tls", description="`tls` (port 993), `starttls`, or `none` (only on a trusted network)."
    )
    bounce_webhook_secret: SecretStr | None = Field(
        None,
        description="Shared secret of the bounce/complaint webhooks (`/hooks/<provider>`); the Mailgun signing key "
        "for Mailgun. None: the webhooks are off.",
    )
    soft_bounce_threshold: int = Field(
        3, ge=1, le=100, description="Soft bounces of one address within the window that suppress it."
    )
    soft_bounce_window_days: int = Field(30, ge=1, le=365, description="Days soft bounces are counted over.")
    complaint_pause_rate: float = Field(
        0.003, gt=0, lt=1, description="Complaint rate (0.003 = 0.3 %) above which marketing to a domain pauses."
    )
    complaint_window_days: int = Field(30, ge=1, le=365, description="Days a domain's complaint rate is taken over.")
    complaint_min_sent: int = Field(
        1000, ge=1, description="Messages a domain must have received in the window before its rate can pause it."
    )
    events_max_batch: int = Field(1000, ge=1, le=10_000, description="Events one call of the events API may carry.")

    @field_validator("database_url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql", "postgres://")):
            raise ValueError("only sqlite:/// and postgresql:// URLs are supported")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("secret_key")
    @classmethod
    def _safe_in_production(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        # `env` is declared before `secret_key`, so it is already validated here.
        if info.data.get("env") == "production":
            secret = value.get_secret_value()
            if secret == DEFAULT_SECRET or len(secret) < 32:
                raise ValueError("must be a random value of at least 32 characters in production")
        return value

    @field_validator("previous_secret_keys")
    @classmethod
    def _previous_keys(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        from epistola.consent.keys import parse_previous_keys

        if value is not None and info.data.get("secret_key_version") in parse_previous_keys(value.get_secret_value()):
            raise ValueError("must not repeat EPISTOLA_SECRET_KEY_VERSION, the version of the current secret")
        return value

    @field_validator("consent_policy")
    @classmethod
    def _consent_policy(cls, value: str) -> str:
        from epistola.consent.policy import parse_policy

        parse_policy(value)
        return value

    @field_validator("preference_topics")
    @classmethod
    def _topics(cls, value: str) -> str:
        keys = [k.strip() for k in value.split(",") if k.strip()]
        bad = [k for k in keys if not k.replace("_", "").isalnum() or not k.isascii() or len(k) > 40]
        if not keys or bad:
            raise ValueError("must be comma-separated keys of letters, digits and _ (at most 40 each)")
        return ",".join(keys)

    @property
    def topic_keys(self) -> tuple[str, ...]:
        """The preference-centre topics as keys: what a customer can tick and a campaign can be about."""
        return tuple(self.preference_topics.split(","))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def tracking_flush_seconds(self) -> float:
        """How long clicks and opens may wait in memory before they are written (see tracking_flush_ms)."""
        if self.tracking_flush_ms is None:
            return 0.0 if self.env == "test" else 0.1
        return self.tracking_flush_ms / 1000


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's errors into one `ConfigError` that names each setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            Problem(
                message=err["msg"].removeprefix("Value error, "),
                field="EPISTOLA_" + str(err["loc"][0]).upper() if err["loc"] else "settings",
            )
            for err in exc.errors()
        ]
        raise ConfigError(
            "invalid settings",
            hint="Fix the environment variables named below (see `epistola settings`).",
            problems=problems,
        ) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting, for --help and the docs."""
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            default = "(built-in development value)" if default.get_secret_value() else ""
        rows.append((f"EPISTOLA_{name.upper()}", "" if default is None else str(default), field.description or ""))
    return rows
