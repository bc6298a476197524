"""Settings from ``MAILBEACON_*`` environment variables, validated once at start.

Every problem is collected and reported together (``SettingsError``) so that an
operator fixes a bad environment in one go instead of one variable at a time.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from plugin.errors import SettingsError
from plugin.private_files import private_dir

__all__ = ["IPNetwork", "Settings", "load_settings"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Environment = Literal["development", "test", "production"]

MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
_PREFIX = "MAILBEACON_"


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one mailbeacon process."""

    env: Environment
    secret_keys: tuple[str, ...]  # newest first; older ones only verify tokens
    data_dir: Path
    database_url: str
    redis_url: str | None
    redis_prefix: str
    smtp_url: str | None
    public_url: str
    trusted_proxies: tuple[IPNetwork, ...]
    host: str = "127.0.0.1"
    port: int = 8000
    # Classification thresholds (DESIGN §2).
    scanner_window_seconds: float = 10.0
    burst_window_seconds: float = 2.0
    duplicate_window_seconds: float = 10.0
    # Hits of one client on one pixel or link queued per duplicate window (0: no limit).
    flood_limit: int = 20
    self_window_hours: float = 6.0
    apple_networks: tuple[IPNetwork, ...] = (ipaddress.ip_network("17.0.0.0/8"),)
    # Sending.
    max_body_bytes: int = 10 * 1024 * 1024
    max_recipients: int = 100
    pixel_position: Literal["bottom", "top"] = "bottom"
    track_text_links: bool = True
    skip_unsubscribe_links: bool = True
    bounce_address: str | None = None
    message_id_domain: str | None = None
    template_timeout_seconds: float = 2.0
    # SMTP connections kept open per mail server and worker process (0: one per message).
    smtp_pool_size: int = 4
    # Waits between delivery attempts after temporary failures (the last one repeats),
    # and how long after the first one a copy keeps being retried before it is FAILED.
    send_retry_seconds: tuple[float, ...] = (5.0, 10.0, 20.0, 40.0, 60.0)
    send_give_up_hours: float = 1.0
    # GraphQL limits.
    graphql_max_depth: int = 12
    graphql_max_query_bytes: int = 100_000
    graphql_max_cost: int = 5_000
    max_links_per_email: int = 5_000
    cpu_workers: int = 2
    cpu_pool: str = "process"  # process | thread | inline (the last two: to measure against)
    # Consent (DESIGN §3).
    company_country: str | None = None
    consent_policies: tuple[tuple[str, str], ...] = ()  # (region, policy) pairs; hashable
    unknown_policy: str | None = None
    consent_text_version: str = "2026-11"
    consent_link_days: int = 90
    event_retention_days: int = 365
    # Observability: /metrics is off while metrics_token is None.
    metrics_token: str | None = None
    # Metric files shared by serve and worker processes (default DATA_DIR/metrics).
    metrics_dir: Path | None = None
    log_format: Literal["text", "json"] = "text"
    access_log: bool = True
    # The reference web console at /console (on by default in development only).
    console_enabled: bool = False

    @property
    def embedded(self) -> bool:
        """One process: in-memory queue and publish/subscribe, no Redis."""
        return self.redis_url is None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite://")

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_url).hostname or "localhost"


def load_settings(
    environ: Mapping[str, str] | None = None, *, generate_key: bool = True
) -> Settings:
    """Read, validate and return the settings; raise SettingsError listing every problem.

    ``generate_key=False``: in development, a missing key file is not created (a
    throwaway key stands in), for commands that must create nothing before they
    know the database exists.
    """
    env_vars = os.environ if environ is None else environ
    reader = _Reader(env_vars)

    env = reader.choice("ENV", ("development", "test", "production"), "development")
    data_dir = Path(reader.text("DATA_DIR", str(Path.cwd() / "var"))).expanduser()
    secret_keys = _secret_keys(reader, env, data_dir, generate_key)
    database_url = reader.text("DATABASE_URL", "") or _default_sqlite_url(data_dir)
    if not database_url.startswith(("sqlite://", "postgres://", "postgresql://", "asyncpg://")):
        reader.problem("DATABASE_URL", "must start with sqlite://, postgres:// or postgresql://")
    redis_url = reader.text("REDIS_URL", "") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        reader.problem("REDIS_URL", "must start with redis://, rediss:// or unix://")
    smtp_url = reader.text("SMTP_URL", "") or None
    if smtp_url and urlsplit(smtp_url).scheme not in ("smtp", "smtp+starttls", "smtps"):
        reader.problem("SMTP_URL", "must start with smtp://, smtp+starttls:// or smtps://")
    port = reader.integer("PORT", 8000, minimum=1, maximum=65535)
    public_url = reader.text("PUBLIC_URL", f"http://127.0.0.1:{port}").rstrip("/")
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        reader.problem("PUBLIC_URL", "must be an absolute http(s) URL without a query")
    elif env == "production" and parts.scheme != "https":
        reader.problem("PUBLIC_URL", "must use https in production")

    settings = Settings(
        env=env,  # type: ignore[arg-type]
        secret_keys=secret_keys,
        data_dir=data_dir,
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=reader.text("REDIS_PREFIX", "mailbeacon"),
        smtp_url=smtp_url,
        public_url=public_url,
        trusted_proxies=reader.networks("TRUSTED_PROXIES", ""),
        host=reader.text("HOST", "127.0.0.1"),
        port=port,
        scanner_window_seconds=reader.number("SCANNER_WINDOW_SECONDS", 10.0),
        burst_window_seconds=reader.number("BURST_WINDOW_SECONDS", 2.0),
        duplicate_window_seconds=reader.number("DUPLICATE_WINDOW_SECONDS", 10.0),
        flood_limit=reader.integer("FLOOD_LIMIT", 20, minimum=0),
        self_window_hours=reader.number("SELF_WINDOW_HOURS", 6.0),
        apple_networks=reader.networks("APPLE_NETWORKS", "17.0.0.0/8"),
        max_body_bytes=reader.integer("MAX_BODY_BYTES", 10 * 1024 * 1024, minimum=1024),
        max_recipients=reader.integer("MAX_RECIPIENTS", 100, minimum=1),
        pixel_position=reader.choice("PIXEL_POSITION", ("bottom", "top"), "bottom"),  # type: ignore[arg-type]
        track_text_links=reader.flag("TRACK_TEXT_LINKS", True),
        skip_unsubscribe_links=reader.flag("SKIP_UNSUBSCRIBE_LINKS", True),
        bounce_address=reader.text("BOUNCE_ADDRESS", "") or None,
        message_id_domain=reader.text("MESSAGE_ID_DOMAIN", "") or None,
        template_timeout_seconds=reader.number("TEMPLATE_TIMEOUT_SECONDS", 2.0),
        smtp_pool_size=reader.integer("SMTP_POOL_SIZE", 4, minimum=0, maximum=100),
        send_retry_seconds=reader.numbers("SEND_RETRY_SECONDS", "5,10,20,40,60"),
        send_give_up_hours=reader.number("SEND_GIVE_UP_HOURS", 1.0),
        graphql_max_depth=reader.integer("GRAPHQL_MAX_DEPTH", 12, minimum=3, maximum=100),
        graphql_max_query_bytes=reader.integer("GRAPHQL_MAX_QUERY_BYTES", 100_000, minimum=1000),
        graphql_max_cost=reader.integer("GRAPHQL_MAX_COST", 5_000, minimum=100),
        max_links_per_email=reader.integer("MAX_LINKS_PER_EMAIL", 5_000, minimum=1),
        cpu_workers=reader.integer("CPU_WORKERS", 2, minimum=1, maximum=64),
        cpu_pool=reader.choice("CPU_POOL", ("process", "thread", "inline"), "process"),
        company_country=(reader.text("COMPANY_COUNTRY", "").upper() or None),
        consent_policies=reader.mapping(
            "CONSENT_POLICIES", "EU=opt-in,EEA=opt-in,UK=opt-in,CH=opt-out"
        ),
        unknown_policy=reader.text("UNKNOWN_POLICY", "") or None,
        consent_text_version=reader.text("CONSENT_TEXT_VERSION", "2026-11"),
        consent_link_days=reader.integer("CONSENT_LINK_DAYS", 90, minimum=1),
        event_retention_days=reader.integer("EVENT_RETENTION_DAYS", 365, minimum=1),
        metrics_token=_metrics_token(reader),
        metrics_dir=Path(reader.text("METRICS_DIR", str(data_dir / "metrics"))).expanduser(),
        log_format=reader.choice("LOG_FORMAT", ("text", "json"), "text"),  # type: ignore[arg-type]
        access_log=reader.flag("ACCESS_LOG", True),
        console_enabled=reader.flag("CONSOLE", env == "development"),
    )
    if settings.unknown_policy not in (None, "opt-in", "opt-out", "none"):
        reader.problem("UNKNOWN_POLICY", "must be opt-in, opt-out or none")
    for region, policy in settings.consent_policies:
        if policy not in ("opt-in", "opt-out", "none"):
            reader.problem("CONSENT_POLICIES", f"{region}: policy must be opt-in, opt-out or none")
    if settings.company_country and len(settings.company_country) != 2:
        reader.problem("COMPANY_COUNTRY", "must be a two-letter ISO 3166 country code")
    reader.raise_if_problems()
    return settings


def _metrics_token(reader: _Reader) -> str | None:
    token = reader.text("METRICS_TOKEN", "")
    if token and len(token) < MIN_METRICS_TOKEN_LENGTH:
        reader.problem(
            "METRICS_TOKEN", f"must be at least {MIN_METRICS_TOKEN_LENGTH} characters long"
        )
    return token or None


def _default_sqlite_url(data_dir: Path) -> str:
    return f"sqlite://{data_dir / 'mailbeacon.sqlite3'}"


def _secret_keys(
    reader: _Reader, env: str, data_dir: Path, generate: bool
) -> tuple[str, ...]:
    """The signing keys. Development keeps a generated key in DATA_DIR; production demands one."""
    current = reader.text("SECRET_KEY", "")
    previous = tuple(
        key.strip() for key in reader.text("PREVIOUS_SECRET_KEYS", "").split(",") if key.strip()
    )
    if current:
        if len(current) < MIN_SECRET_LENGTH:
            reader.problem("SECRET_KEY", f"must be at least {MIN_SECRET_LENGTH} characters long")
        return (current, *previous)
    if env == "production":
        reader.problem(
            "SECRET_KEY",
            f"is required in production (at least {MIN_SECRET_LENGTH} random characters, "
            'e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")',
        )
        return ("",)
    if not generate and not (data_dir / "secret_key").exists():
        return (secrets.token_urlsafe(48), *previous)
    return (_development_key(data_dir), *previous)


def _development_key(data_dir: Path) -> str:
    """Generate the development key once and keep it, so tokens survive restarts."""
    key_file = data_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    private_dir(data_dir)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not end up with different keys.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


class _Reader:
    """Typed access to MAILBEACON_* variables that records problems instead of raising."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._problems: list[str] = []

    def problem(self, name: str, message: str) -> None:
        self._problems.append(f"{_PREFIX}{name} {message}")

    def raise_if_problems(self) -> None:
        if self._problems:
            raise SettingsError(self._problems)

    def text(self, name: str, default: str) -> str:
        return self._environ.get(_PREFIX + name, default).strip()

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.text(name, default).lower()
        if value not in options:
            self.problem(name, f"must be one of {', '.join(options)} (got {value!r})")
            return default
        return value

    def integer(
        self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None
    ) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            self.problem(name, f"must be a whole number (got {raw!r})")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            self.problem(name, f"must be {bound} (got {value})")
            return default
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.text(name, str(default))
        try:
            value = float(raw)
        except ValueError:
            self.problem(name, f"must be a number (got {raw!r})")
            return default
        if value < 0 or value != value:  # NaN is not a threshold
            self.problem(name, f"must be a non-negative number (got {raw!r})")
            return default
        return value

    def numbers(self, name: str, default: str) -> tuple[float, ...]:
        """A comma-separated list of positive numbers (at least one)."""
        raw = self.text(name, default)
        try:
            values = tuple(float(item) for item in raw.split(",") if item.strip())
        except ValueError:
            values = ()
        if not values or any(not 0 < value < float("inf") for value in values):
            self.problem(name, f"must be a comma-separated list of positive numbers (got {raw!r})")
            return tuple(float(item) for item in default.split(","))
        return values

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name, "true" if default else "false").lower()
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        self.problem(name, f"must be true or false (got {raw!r})")
        return default

    def networks(self, name: str, default: str) -> tuple[IPNetwork, ...]:
        networks: list[IPNetwork] = []
        for item in self.text(name, default).split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                self.problem(name, f"has an invalid address or network {item!r}")
        return tuple(networks)

    def mapping(self, name: str, default: str) -> tuple[tuple[str, str], ...]:
        result: dict[str, str] = {}
        for item in self.text(name, default).split(","):
            if not item.strip():
                continue
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                self.problem(name, f"entries must look like REGION=policy (got {item.strip()!r})")
                continue
            result[key.strip().upper()] = value.strip().lower()
        return tuple(result.items())
