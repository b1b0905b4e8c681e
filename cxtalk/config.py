"""Configuration from the environment, read once per process (see README "Configuration")."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None  # None: the dev runner starts a private Redis
    public_base_url: str
    secret_key: str
    dev_mode: bool  # GraphiQL and introspection on
    allowed_origins: tuple[str, ...]  # browser origins allowed by CORS and the WebSocket handshake
    rate_limit_per_second: float  # sustained GraphQL requests per token (0: off)
    rate_limit_burst: int

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def _secret_key(data_dir: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under DATA_DIR."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(secrets.token_urlsafe(32))
        tmp.chmod(0o600)
        os.replace(tmp, path)
    return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    data_dir = Path(os.environ.get("DATA_DIR", "./var")).resolve()
    database_url = os.environ.get("DATABASE_URL") or f"sqlite://{data_dir / 'cxtalk.sqlite3'}"
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        redis_url=os.environ.get("REDIS_URL") or None,
        public_base_url=os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        secret_key=_secret_key(data_dir),
        dev_mode=os.environ.get("CXTALK_DEV", "0") == "1",
        allowed_origins=tuple(o.strip() for o in os.environ.get("ALLOWED_ORIGINS", "").split(",") if o.strip()),
        rate_limit_per_second=float(os.environ.get("RATE_LIMIT_PER_SECOND", "20")),
        rate_limit_burst=int(os.environ.get("RATE_LIMIT_BURST", "100")),
    )
