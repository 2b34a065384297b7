"""Settings, from environment variables prefixed ``KBX_`` (pydantic-settings)."""

from __future__ import annotations

import enum
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    http_port: int = 8000

    @model_validator(mode="after")
    def _production_rules(self) -> Settings:
        if self.env is Environment.PRODUCTION and self.today is not None:
            raise ValueError("KBX_TODAY replaces the clock and is refused when KBX_ENV=production")
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kbx.sqlite3').resolve()}"

    def current_date(self) -> date:
        """Today in Belgium's calendar terms; the clock of every rule that depends on a date."""
        if self.today is not None:
            return self.today
        return datetime.now(ZoneInfo("Europe/Brussels")).date()
