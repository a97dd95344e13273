"""Configuration from the environment and a `.env` file."""

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, HttpUrl, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/tgdesk.db"

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class DatabaseSettings(BaseSettings):
    """The part of the configuration that migrations need (no bot token)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return url


class Settings(DatabaseSettings):
    bot_token: SecretStr
    staff_chat_id: int
    telegram_api_url: str | None = None
    admin_ids: Annotated[list[int], NoDecode] = []
    ticket_prefix: str = Field("ARG", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    timezone: str = "UTC"
    batch_window_seconds: float = Field(2.0, ge=0, le=60)
    log_level: str = "INFO"
    show_staff_names: bool = False
    # Telegram's documented flood limits; lower them if Telegram still answers 429.
    staff_chat_messages_per_minute: int = Field(20, ge=1, le=1_000_000)
    private_chat_messages_per_second: float = Field(1.0, gt=0, le=1_000_000)
    messages_per_second: int = Field(30, ge=1, le=1_000_000)
    delivery_give_up_hours: float = Field(24.0, gt=0, le=24 * 30)
    # A customer writing within this time after a close reopens the ticket, later a new one.
    reopen_window_hours: float = Field(48.0, ge=0, le=24 * 365)

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, token: SecretStr) -> SecretStr:
        bot_id, _, secret = token.get_secret_value().partition(":")
        if not (bot_id.isdigit() and secret):
            raise ValueError("must look like 123456:ABC-DEF… (ask @BotFather)")
        return token

    @field_validator("staff_chat_id")
    @classmethod
    def _group_id(cls, chat_id: int) -> int:
        if chat_id >= 0:
            raise ValueError("must be the id of a group: a negative number like -1001234567890")
        return chat_id

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {name!r}") from None
        return name

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, level: str) -> str:
        if level.upper() not in LOG_LEVELS:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level.upper()

    @field_validator("telegram_api_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        try:
            parsed = HttpUrl(url)  # a bad port or scheme would otherwise surface much later
        except ValidationError:
            raise ValueError("must be an http:// or https:// URL with a valid port") from None
        return str(parsed).rstrip("/")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def describe_errors(error: ValidationError) -> str:
    """One line naming every variable that is missing or invalid."""
    problems = []
    for item in error.errors():
        variable = str(item["loc"][0]).upper() if item["loc"] else "configuration"
        message = str(item["msg"]).removeprefix("Value error, ")
        reason = "is required" if item["type"] == "missing" else f"is invalid: {message}"
        problems.append(f"{variable} {reason}")
    return "configuration error: " + "; ".join(problems)
