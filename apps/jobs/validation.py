"""Checks of the fields of a job, shared by the API, the pages and the CLI."""

from __future__ import annotations

import base64
import binascii
import io
import ipaddress
import re
import socket
import zipfile
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.errors import InvalidInput
from apps.jobs import schedules
from apps.jobs.models import Concurrency, Runtime, ScheduleKind

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
MAX_CODE = 1_000_000
MAX_BUNDLE = 20_000_000
MAX_BUNDLE_FILES = 5_000
MAX_REQUIREMENTS = 100_000
MAX_ENV = 100
MAX_ENV_VALUE = 10_000
MAX_TIMEOUT = 7 * 24 * 3600
MAX_RETRIES = 10
MAX_BACKOFF = 24 * 3600
# Variables that the executor sets itself, or that would change how the
# child process starts, cannot be set by a job.
RESERVED_ENV = frozenset(
    {
        "PATH",
        "HOME",
        "PYTHONPATH",
        "PYTHONHOME",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "VIRTUAL_ENV",
        "TMPDIR",
    }
)
RESERVED_PREFIX = "DSTACK_"


def validate_name(value: object) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise InvalidInput(
            "name must be 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return value


def validate_runtime(value: object) -> str:
    if value not in Runtime.values:
        raise InvalidInput("runtime must be python or r", field="runtime")
    return str(value)


def validate_text(value: object, *, field: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    if len(value) > limit:
        raise InvalidInput(f"{field} must be at most {limit:,} characters", field=field)
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL bytes", field=field)
    return value


def validate_entrypoint(value: object, runtime: str) -> str:
    default = "main.R" if runtime == Runtime.R else "main.py"
    if value in (None, ""):
        return default
    if not isinstance(value, str) or len(value) > 255:
        raise InvalidInput(
            "entrypoint must be a relative file path", field="entrypoint"
        )
    parts = value.replace("\\", "/").split("/")
    if value.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise InvalidInput(
            "entrypoint must be a relative path without '..'", field="entrypoint"
        )
    return value


def validate_bundle(value: object) -> bytes:
    """Decode a base64 zip bundle and check that it unpacks safely."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
    elif isinstance(value, str):
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "bundle must be a base64 zip file", field="bundle"
            ) from None
    else:
        raise InvalidInput("bundle must be a base64 zip file", field="bundle")
    if len(data) > MAX_BUNDLE:
        raise InvalidInput(
            f"bundle must be at most {MAX_BUNDLE:,} bytes", field="bundle"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise InvalidInput("bundle is not a zip file", field="bundle") from None
    if len(names) > MAX_BUNDLE_FILES:
        raise InvalidInput(
            f"bundle must hold at most {MAX_BUNDLE_FILES:,} files", field="bundle"
        )
    if unpacked > 10 * MAX_BUNDLE:
        raise InvalidInput("bundle unpacks to more than 200 MB", field="bundle")
    for name in names:
        parts = name.replace("\\", "/").split("/")
        if name.startswith("/") or ".." in parts:
            raise InvalidInput(
                f"bundle entry {schedules.shown(name)} points outside the folder",
                field="bundle",
            )
    return data


def bundle_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [name for name in archive.namelist() if not name.endswith("/")]


def validate_env(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput("env must be an object of names to strings", field="env")
    if len(value) > MAX_ENV:
        raise InvalidInput(f"env must have at most {MAX_ENV} variables", field="env")
    result = {}
    for name, text in value.items():
        validate_env_name(name, field="env")
        if not isinstance(text, str) or len(text) > MAX_ENV_VALUE or "\x00" in text:
            raise InvalidInput(
                f"env {name}: the value must be a string of at most "
                f"{MAX_ENV_VALUE:,} characters",
                field="env",
            )
        result[name] = text
    return result


def validate_env_name(name: object, *, field: str) -> str:
    if not isinstance(name, str) or not ENV_NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{field}: {schedules.shown(str(name))} is not a valid variable name "
            "(letters, digits and '_', not starting with a digit)",
            field=field,
        )
    if name in RESERVED_ENV or name.startswith(RESERVED_PREFIX):
        raise InvalidInput(
            f"{field}: {name} is set by the executor and cannot be changed",
            field=field,
        )
    return name


def validate_secrets(value: object) -> dict[str, str | None]:
    """Check `{"NAME": "value"}`; a null value deletes the secret."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(
            "secrets must be an object of names to strings", field="secrets"
        )
    result: dict[str, str | None] = {}
    for name, text in value.items():
        validate_env_name(name, field="secrets")
        if text is not None and (
            not isinstance(text, str) or len(text) > MAX_ENV_VALUE or "\x00" in text
        ):
            raise InvalidInput(
                f"secrets {name}: the value must be a string or null", field="secrets"
            )
        result[name] = text
    return result


def validate_int(
    value: object, *, field: str, minimum: int, maximum: int, default: int
) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise InvalidInput(f"{field} must be a whole number", field=field)
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidInput(f"{field} must be a whole number", field=field) from None
    if number < minimum or number > maximum:
        raise InvalidInput(
            f"{field} must be {minimum} to {maximum:,}, not {number}", field=field
        )
    return number


def validate_concurrency(value: object) -> str:
    if value in (None, ""):
        return Concurrency.SKIP
    if value not in Concurrency.values:
        raise InvalidInput(
            "concurrency must be skip, queue or allow", field="concurrency"
        )
    return str(value)


def validate_webhook(value: object) -> str:
    if value in (None, ""):
        return ""
    if not isinstance(value, str) or len(value) > 500:
        raise InvalidInput(
            "webhook_url must be an http or https URL", field="webhook_url"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            "webhook_url must be an http or https URL", field="webhook_url"
        )
    problem = webhook_address_problem(value, resolve_failure_ok=True)
    if problem:
        raise InvalidInput(f"webhook_url {problem}", field="webhook_url")
    return value


def _internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def webhook_address_problem(url: str, *, resolve_failure_ok: bool = False) -> str:
    """Tell why the webhook must not be sent to `url`'s host; "" if it may.

    Loopback, link-local and private addresses are refused (the webhook
    would reach this server's own network), unless
    `JOB_WEBHOOK_ALLOW_PRIVATE` is set. A name counts by every address it
    resolves to. When it does not resolve, saving may go on
    (`resolve_failure_ok`); sending may not.
    """
    if settings.JOB_WEBHOOK_ALLOW_PRIVATE:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "has an invalid port"
    try:
        found = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return "" if resolve_failure_ok else f"host {host} does not resolve"
    for *_, address in found:
        if _internal(str(address[0])):
            return (
                "must not point at a loopback, link-local or private address "
                f"({host}); an operator can allow them with "
                "DSTACK_JOB_WEBHOOK_ALLOW_PRIVATE"
            )
    return ""


def validate_schedule(value: object) -> dict[str, Any]:
    """Check a schedule and return its fields for the job.

    Accepted: `{"kind": "manual"}`, `{"kind": "interval", "interval_seconds":
    N}`, `{"kind": "cron", "cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"}`
    and `{"preset": "weekdays", "at": "06:00", "timezone": ...}`.
    """
    if value is None:
        return {"schedule_kind": ScheduleKind.MANUAL}
    if not isinstance(value, dict):
        raise InvalidInput("schedule must be an object", field="schedule")
    zone = schedules.validate_timezone(
        value.get("timezone") or "UTC", field="schedule.timezone"
    )
    if "preset" in value:
        cron = schedules.preset_cron(
            str(value["preset"]), str(value.get("at") or "06:00")
        )
        kind = ScheduleKind.CRON
    else:
        kind = value.get("kind", ScheduleKind.MANUAL)
        cron = value.get("cron")
    if kind == ScheduleKind.MANUAL:
        return {
            "schedule_kind": kind,
            "cron": "",
            "interval_seconds": None,
            "timezone": zone,
        }
    if kind == ScheduleKind.INTERVAL:
        seconds = schedules.validate_interval(
            value.get("interval_seconds"), field="schedule.interval_seconds"
        )
        return {
            "schedule_kind": kind,
            "cron": "",
            "interval_seconds": seconds,
            "timezone": zone,
        }
    if kind == ScheduleKind.CRON:
        cron = schedules.validate_cron(cron, zone, field="schedule.cron")
        return {
            "schedule_kind": kind,
            "cron": cron,
            "interval_seconds": None,
            "timezone": zone,
        }
    raise InvalidInput(
        "schedule.kind must be manual, interval or cron", field="schedule.kind"
    )
