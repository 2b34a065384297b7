"""Settings, from environment variables prefixed ``KBX_`` (pydantic-settings)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from exchange.clock import BRUSSELS

__all__ = ["Environment", "Settings"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(enum.StrEnum):
    DEV = "dev"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KBX_", extra="ignore")

    env: Environment = Environment.DEV
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file under data_dir
    today: date | None = None  # replaces the clock, for tests and demos only
    protocols_dir: Path = PROJECT_ROOT / "protocols"
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=0, le=65535)
    sftp_host: str = "127.0.0.1"
    sftp_port: int = Field(default=2222, ge=0, le=65535)
    secret_key: str | None = Field(default=None, repr=False)  # base64 of 32 bytes
    drop_retention_days: int = Field(
        default=14, ge=1, le=365
    )  # a delivered file leaves the drop after this many days
    key_resend_days: int = Field(
        default=14, ge=0, le=365
    )  # the password is kept (encrypted) this long for a resend
    worker_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    # Where kbx is reached from outside (Twilio's status callbacks are signed over this URL).
    public_base_url: str = "http://127.0.0.1:8000"

    # Key SMS: "outbox" (dev only, JSON lines under data_dir) or "twilio".
    sms_provider: str = "outbox"
    twilio_account_sid: str = ""
    twilio_auth_token: str | None = Field(default=None, repr=False)
    twilio_messaging_service_sid: str = ""
    twilio_from: str = ""  # a sender id or number, when no messaging service is used
    twilio_base_url: str = ""  # tests only: a local stand-in for https://api.twilio.com
    twilio_timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    # The two mail routes; an empty host means the dev capture (refused in production).
    secure_mail_host: str = ""
    secure_mail_port: int = Field(default=587, ge=1, le=65535)
    secure_mail_security: str = "starttls"  # "starttls" or "tls" (implicit); never plaintext
    secure_mail_username: str = ""
    secure_mail_password: str | None = Field(default=None, repr=False)
    secure_mail_from: str = "kbx@integratie-inburgering.be"
    zivver_host: str = ""
    zivver_port: int = Field(default=587, ge=1, le=65535)
    zivver_security: str = "starttls"
    zivver_username: str = ""
    zivver_password: str | None = Field(default=None, repr=False)
    zivver_from: str = "kbx@integratie-inburgering.be"
    mail_ca_file: Path | None = None  # extra CA bundle for the relays (tests: a local CA)

    # Pseudonyms for the BI working group: HMAC-SHA-256 key, base64 of 32 bytes (dev: key file).
    pseudonym_key: str | None = Field(default=None, repr=False)
    # VSB individual checks per caller and minute.
    check_rate_per_minute: int = Field(default=60, ge=1)
    # HTTP processes of `kbx serve` (the SFTP drop and the worker run once, in the parent).
    http_workers: int = Field(default=1, ge=1, le=16)
    # The staff console: a session ends after this many minutes without a request.
    console_idle_minutes: int = Field(default=30, ge=1)
    # How often kbx looks at a recipient's own SFTP server for removed or returned files.
    remote_check_minutes: int = Field(default=15, ge=1)

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.env is Environment.PRODUCTION and self.today is not None:
            raise ValueError("KBX_TODAY replaces the clock and is refused when KBX_ENV=production")
        return self

    @property
    def default_database_file(self) -> Path | None:
        """The SQLite file under ``data_dir`` kbx uses when KBX_DATABASE_URL is not set."""
        return None if self.database_url else (self.data_dir / "kbx.sqlite3").resolve()

    @property
    def effective_database_url(self) -> str:
        file = self.default_database_file
        return f"sqlite:///{file}" if file is not None else self.database_url

    def now(self) -> datetime:
        """The current instant in UTC; with KBX_TODAY, shifted by whole days onto that date."""
        real = datetime.now(UTC)
        if self.today is None:
            return real
        return real + timedelta(days=(self.today - real.astimezone(BRUSSELS).date()).days)

    def current_date(self) -> date:
        """Today in Belgium's calendar terms; the clock of every rule that depends on a date."""
        if self.today is not None:
            return self.today
        return datetime.now(BRUSSELS).date()
