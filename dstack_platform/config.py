"""Read the server's configuration from `DSTACK_*` environment variables.

Every setting module reads the environment through this module, so that each
variable is parsed and checked in one place. A malformed value raises
`ImproperlyConfigured` naming the variable; `required=True` does the same for
a missing one, which is how the production settings fail closed.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

MIN_SECRET_KEY_LENGTH = 32


def text(
    name: str, default: str | None = None, *, required: bool = False
) -> str | None:
    """Return the variable `name`, or the contents of the file `name_FILE` names.

    The `_FILE` form carries secrets mounted as files (Docker secrets,
    Kubernetes Secret volumes), so that they never sit in the environment.
    Setting both is ambiguous and rejected.
    """
    value = env.str(name, default="").strip()
    path = env.str(f"{name}_FILE", default="").strip()
    if value and path:
        raise ImproperlyConfigured(
            f"{name} and {name}_FILE are both set: keep one of them"
        )
    if path:
        value = _read_setting_file(name, path)
    if value:
        return value
    if required:
        raise ImproperlyConfigured(
            f"{name} is missing: set it, or {name}_FILE to a file that contains it"
        )
    return default


def _read_setting_file(name: str, path: str) -> str:
    try:
        value = Path(path).read_text().strip()
    except OSError as error:
        raise ImproperlyConfigured(
            f"{name}_FILE names {path}, which cannot be read: {error.strerror}"
        ) from None
    if not value:
        raise ImproperlyConfigured(f"{name}_FILE names {path}, which is empty")
    return value


def integer(
    name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = text(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {value}")
    return value


RATE = re.compile(r"^[1-9][0-9]*/(second|minute|hour|day)$")


def rate(name: str, default: str) -> str:
    """Read a rate such as `30/hour`, in the form DRF's throttles take."""
    value = text(name, default) or default
    if not RATE.match(value):
        raise ImproperlyConfigured(
            f"{name} must be a count per second, minute, hour or day, such as "
            f"30/hour, not {value!r}"
        )
    return value


def boolean(name: str, default: bool) -> bool:
    raw = text(name)
    if raw is None:
        return default
    return _parse_boolean(name, raw)


def _parse_boolean(name: str, raw: str) -> bool:
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def public_url(default: str | None, *, required: bool = False) -> str:
    """Return `DSTACK_PUBLIC_URL` without its trailing slash.

    It is the address in links, emails and CSRF checks, so it must be an
    absolute http(s) URL: `dstack.example.com` alone would make every link
    relative and every form post fail the CSRF check.
    """
    raw = text("DSTACK_PUBLIC_URL", required=required) or default
    assert raw is not None
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ImproperlyConfigured(
            "DSTACK_PUBLIC_URL must be an http:// or https:// URL such as "
            f"https://dstack.example.com, not {raw!r}"
        )
    if parts.query or parts.fragment:
        raise ImproperlyConfigured(
            f"DSTACK_PUBLIC_URL must have no query or fragment, not {raw!r}"
        )
    return raw.rstrip("/")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(default: str) -> str:
    """Return `DSTACK_LOG_LEVEL`, one of Python's level names, in capitals."""
    value = (text("DSTACK_LOG_LEVEL", default) or default).upper()
    if value not in LOG_LEVELS:
        raise ImproperlyConfigured(
            f"DSTACK_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, not {value!r}"
        )
    return value


def host_of(url: str) -> str:
    """Return the host name of `url`, as ALLOWED_HOSTS lists it."""
    return urlsplit(url).hostname or ""


def data_dir() -> Path:
    raw = text("DSTACK_DATA_DIR", "~/.dstack/server")
    assert raw is not None
    return Path(raw).expanduser().resolve()


def secret_key(*, required: bool, fallback_file: Path | None = None) -> str:
    """Return `DSTACK_SECRET_KEY`, or a key kept in `fallback_file`.

    The embedded default has no operator to set a secret, so it generates one
    on first start and keeps it in the data directory; sessions and signed
    URLs then survive a restart.
    """
    value = text("DSTACK_SECRET_KEY", required=required)
    if value is not None:
        if len(value) < MIN_SECRET_KEY_LENGTH:
            raise ImproperlyConfigured(
                f"DSTACK_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters"
            )
        return value

    assert fallback_file is not None
    if not fallback_file.exists():
        fallback_file.parent.mkdir(parents=True, exist_ok=True)
        fallback_file.write_text(secrets.token_urlsafe(48))
        fallback_file.chmod(0o600)
    return fallback_file.read_text().strip()


def database(*, required: bool, sqlite_path: Path | None = None) -> dict[str, Any]:
    raw = text("DSTACK_DATABASE_URL", required=required)
    if raw is None:
        assert sqlite_path is not None
        sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(sqlite_path),
            # The worker thread and the web server write to one file; waiting
            # for the lock beats failing with "database is locked".
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }

    scheme = urlsplit(raw).scheme
    if scheme not in {"postgres", "postgresql", "pgsql", "sqlite"}:
        # The URL may carry a password: show only what precedes "://".
        shown = f"a {scheme}:// URL" if scheme else repr(raw.split("@")[-1][:40])
        raise ImproperlyConfigured(
            f"DSTACK_DATABASE_URL must be a postgres:// or sqlite:// URL, not {shown}"
        )
    try:
        config = environ.Env.db_url_config(raw)
    except Exception as error:  # django-environ raises several kinds
        raise ImproperlyConfigured(
            f"DSTACK_DATABASE_URL is malformed: {error}"
        ) from None
    # The password may come apart from the URL, from a mounted secret file.
    password = text("DSTACK_DATABASE_PASSWORD")
    if password is not None:
        config["PASSWORD"] = password
    if config["ENGINE"] == "django.db.backends.postgresql":
        config["CONN_MAX_AGE"] = 60
        config["CONN_HEALTH_CHECKS"] = True
    return config


@dataclass(frozen=True)
class StorageConfig:
    """The blob store: a folder on disk, or a bucket of an S3-compatible store."""

    backend: str
    root: Path | None = None
    bucket: str | None = None
    endpoint_url: str | None = None
    public_endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    transfer: str = "direct"


def storage(*, required: bool, default_root: Path | None = None) -> StorageConfig:
    """Read the storage settings.

    `DSTACK_STORAGE_URL` is `file:///path` or `s3://bucket`; the S3 variables
    (`DSTACK_S3_BUCKET`, `DSTACK_S3_ENDPOINT_URL`, `DSTACK_S3_REGION`,
    `DSTACK_S3_ACCESS_KEY_ID`, `DSTACK_S3_SECRET_ACCESS_KEY`) fill in or
    override the parts of an `s3://` URL. `DSTACK_S3_PUBLIC_ENDPOINT_URL` is
    the address clients use for the store when it differs from the server's,
    and `DSTACK_TRANSFER_MODE=stream` sends transfers through the server.
    """
    transfer = text("DSTACK_TRANSFER_MODE", "direct")
    if transfer not in {"direct", "stream"}:
        raise ImproperlyConfigured(
            f"DSTACK_TRANSFER_MODE must be direct or stream, not {transfer!r}"
        )

    raw = text("DSTACK_STORAGE_URL")
    bucket = text("DSTACK_S3_BUCKET")
    if raw is None and bucket is None:
        if required:
            raise ImproperlyConfigured(
                "DSTACK_STORAGE_URL or DSTACK_S3_BUCKET is missing: set one of them"
            )
        assert default_root is not None
        return StorageConfig(backend="filesystem", root=default_root, transfer="stream")

    query: dict[str, list[str]] = {}
    if raw is not None:
        parts = urlsplit(raw)
        if parts.scheme == "file":
            # file://data/blobs would name the folder /blobs on host "data".
            if parts.netloc not in {"", "localhost"} or not parts.path.startswith("/"):
                raise ImproperlyConfigured(
                    "DSTACK_STORAGE_URL must be file:///absolute/path"
                )
            return StorageConfig(
                backend="filesystem", root=Path(parts.path), transfer="stream"
            )
        if parts.scheme != "s3" or not parts.netloc:
            raise ImproperlyConfigured(
                "DSTACK_STORAGE_URL must be file:///path or s3://bucket, not "
                + repr(raw)
            )
        bucket = bucket or parts.netloc
        query = parse_qs(parts.query)

    def option(variable: str, key: str) -> str | None:
        return text(variable) or (query.get(key) or [None])[0]

    access_key = option("DSTACK_S3_ACCESS_KEY_ID", "access_key_id")
    secret = option("DSTACK_S3_SECRET_ACCESS_KEY", "secret_access_key")
    if required and (access_key is None) != (secret is None):
        raise ImproperlyConfigured(
            "DSTACK_S3_ACCESS_KEY_ID and DSTACK_S3_SECRET_ACCESS_KEY go together: "
            "set both, or neither to use the machine's credentials"
        )
    endpoint = option("DSTACK_S3_ENDPOINT_URL", "endpoint_url")
    public = option("DSTACK_S3_PUBLIC_ENDPOINT_URL", "public_endpoint_url")
    for variable, url in (
        ("DSTACK_S3_ENDPOINT_URL", endpoint),
        ("DSTACK_S3_PUBLIC_ENDPOINT_URL", public),
    ):
        if url is not None and urlsplit(url).scheme not in {"http", "https"}:
            raise ImproperlyConfigured(
                f"{variable} must be an http(s) URL, not {url!r}"
            )

    return StorageConfig(
        backend="s3",
        bucket=bucket,
        endpoint_url=endpoint,
        public_endpoint_url=public,
        region=option("DSTACK_S3_REGION", "region") or "us-east-1",
        access_key_id=access_key,
        secret_access_key=secret,
        transfer=transfer or "direct",
    )


def redis_url(*, required: bool) -> str | None:
    """Return `DSTACK_REDIS_URL`, with `DSTACK_REDIS_PASSWORD` put into it.

    The password may come apart from the URL, from a mounted secret file
    (`DSTACK_REDIS_PASSWORD_FILE`), like the database's.
    """
    raw = text("DSTACK_REDIS_URL", required=required)
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in {"redis", "rediss"}:
        raise ImproperlyConfigured(
            f"DSTACK_REDIS_URL must be a redis:// URL, not {parts.scheme}://..."
            if parts.scheme
            else "DSTACK_REDIS_URL must be a redis:// URL"
        )
    password = text("DSTACK_REDIS_PASSWORD")
    if password is None:
        return raw
    if parts.password is not None:
        raise ImproperlyConfigured(
            "DSTACK_REDIS_URL has a password and DSTACK_REDIS_PASSWORD is set: "
            "keep one of them"
        )
    user = quote(parts.username or "", safe="")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = text(name, default)
    assert value is not None
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}, not {value!r}"
        )
    return value


SIGNUP_MODES = ("open", "invite", "closed")


def signup_mode(default: str) -> str:
    """Return `DSTACK_SIGNUP`: who may create an account with a password.

    `open`: anyone who can reach the sign-up page. `invite`: only someone who
    follows an invitation link. `closed`: nobody; staff create accounts.
    Accounts from the OpenID Connect provider or the proxy's user header do
    not depend on it, because that provider or proxy decides who gets in.
    """
    return choice("DSTACK_SIGNUP", default, SIGNUP_MODES)


def names(name: str) -> list[str]:
    """Read a comma-separated list; blanks are dropped, so "" is an empty list."""
    raw = text(name, "")
    assert raw is not None
    return [item.strip() for item in raw.split(",") if item.strip()]


def networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Read a comma-separated list of addresses and CIDR blocks."""
    raw = text(name, "")
    assert raw is not None
    result = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            result.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or CIDR blocks, not {item!r}"
            ) from None
    return result


def remote_user_header() -> str | None:
    """Return the Django META key of `DSTACK_REMOTE_USER_HEADER`, or None.

    `X-Forwarded-User` becomes `HTTP_X_FORWARDED_USER`, the name under which
    Django keeps the request header.
    """
    raw = text("DSTACK_REMOTE_USER_HEADER")
    if raw is None:
        return None
    if not all(c.isalnum() or c == "-" for c in raw):
        raise ImproperlyConfigured(
            f"DSTACK_REMOTE_USER_HEADER must be a header name such as "
            f"X-Forwarded-User, not {raw!r}"
        )
    return "HTTP_" + raw.upper().replace("-", "_")


@dataclass(frozen=True)
class OidcConfig:
    """An OpenID Connect provider to sign in with."""

    provider_url: str
    client_id: str
    client_secret: str
    name: str


def oidc() -> OidcConfig | None:
    """Read `DSTACK_OIDC_*`; None when `DSTACK_OIDC_PROVIDER_URL` is unset.

    The provider URL is the issuer (its discovery document is at
    `/.well-known/openid-configuration` under it) or the document's own URL.
    """
    url = text("DSTACK_OIDC_PROVIDER_URL")
    if url is None:
        return None
    if urlsplit(url).scheme not in {"http", "https"}:
        raise ImproperlyConfigured(
            f"DSTACK_OIDC_PROVIDER_URL must be an http(s) URL, not {url!r}"
        )
    client_id = text("DSTACK_OIDC_CLIENT_ID", required=True)
    client_secret = text("DSTACK_OIDC_CLIENT_SECRET", required=True)
    assert client_id is not None and client_secret is not None
    return OidcConfig(
        provider_url=url.rstrip("/"),
        client_id=client_id,
        client_secret=client_secret,
        name=text("DSTACK_OIDC_NAME", "single sign-on") or "single sign-on",
    )
