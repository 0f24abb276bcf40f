"""Client configuration: profiles of server, user, token and team.

The file is `~/.dstack/config.yaml` (or `$DSTACK_CONFIG`) in the layout of the
original dstack client:

    profiles:
      default:
        server: http://127.0.0.1:8080/api
        user: alice
        token: ...
        team: acme        # optional: stacks then live in this team

`configure()` replaces the file with profiles kept in memory. When no
configuration is set in memory, `DSTACK_SERVER` and `DSTACK_TOKEN` (with the
optional `DSTACK_USER` and `DSTACK_TEAM`) define the `default` profile and
take precedence over the file, which suits jobs and CI that have no home
directory to keep a file in.
"""

from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ._exceptions import ConfigurationError

DEFAULT_SERVER = "http://127.0.0.1:8080/api"


@dataclass(frozen=True)
class Profile:
    """A named set of credentials, with arguments in the original client's order."""

    name: str
    user: str | None
    token: str | None
    server: str = DEFAULT_SERVER
    verify: bool = True
    team: str | None = None

    @property
    def default_team(self) -> str | None:
        """Team of stack names without a leading slash: the team, else the user."""
        return self.team or self.user

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"server": self.server, "user": self.user}
        data["token"] = self.token
        if self.team:
            data["team"] = self.team
        if not self.verify:
            data["verify"] = False
        return data

    def with_changes(self, **changes: Any) -> Profile:
        return replace(self, **changes)


class Config(ABC):
    """A collection of profiles."""

    @abstractmethod
    def list_profiles(self) -> dict[str, Profile]: ...

    @abstractmethod
    def add_or_replace_profile(self, profile: Profile) -> None: ...

    @abstractmethod
    def remove_profile(self, name: str) -> Profile: ...

    def save(self) -> None:  # noqa: B027  (optional: in-memory configs keep nothing)
        """Persist the profiles. In-memory configurations have nothing to do."""

    def get_profile(self, name: str) -> Profile:
        profiles = self.list_profiles()
        if name not in profiles:
            known = ", ".join(sorted(profiles)) or "none"
            raise ConfigurationError(
                f"profile {name!r} is not configured (configured profiles: {known}). "
                f"add it with: dstack config add {name} --server URL --user NAME"
            )
        return profiles[name]


class InPlaceConfig(Config):
    """Profiles kept in memory only."""

    def __init__(self, profiles: list[Profile] | None = None) -> None:
        self._profiles = {profile.name: profile for profile in profiles or []}

    def list_profiles(self) -> dict[str, Profile]:
        return dict(self._profiles)

    def add_or_replace_profile(self, profile: Profile) -> None:
        self._profiles[profile.name] = profile

    def remove_profile(self, name: str) -> Profile:
        profile = self.get_profile(name)
        del self._profiles[name]
        return profile


class YamlConfig(InPlaceConfig):
    """Profiles read from and saved to a YAML file."""

    def __init__(self, profiles: list[Profile] | None, path: Path) -> None:
        super().__init__(profiles)
        self.path = path

    @classmethod
    def load(cls, path: Path | str | None = None) -> YamlConfig:
        """Read `path` (default: `config_path()`). A missing file has no profiles."""
        path = Path(path) if path is not None else config_path()
        if not path.exists():
            return cls([], path)

        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigurationError(f"cannot read config file {path}: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("profiles", {}), dict):
            raise ConfigurationError(
                f"invalid config file {path}: expected a mapping 'profiles: {{name: "
                "{server, user, token}}}'"
            )

        profiles = []
        for name, entry in (data.get("profiles") or {}).items():
            profiles.append(_profile_from_dict(str(name), entry, path))
        return cls(profiles, path)

    def save(self) -> None:
        """Write the file atomically, readable by its owner only (it holds tokens)."""
        data = {
            "profiles": {
                name: profile.to_dict() for name, profile in self._profiles.items()
            }
        }
        text = yaml.safe_dump(data, sort_keys=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)

        descriptor, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=".config-", suffix=".yaml"
        )
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def _profile_from_dict(name: str, entry: Any, path: Path) -> Profile:
    if not isinstance(entry, dict):
        raise ConfigurationError(f"invalid profile {name!r} in {path}: not a mapping")
    server = entry.get("server") or DEFAULT_SERVER
    verify = entry.get("verify", True)
    if not isinstance(verify, bool):
        raise ConfigurationError(
            f"invalid profile {name!r} in {path}: verify must be true or false"
        )
    return Profile(
        name=name,
        user=_optional_str(entry.get("user")),
        token=_optional_str(entry.get("token")),
        server=str(server),
        verify=verify,
        team=_optional_str(entry.get("team")),
    )


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def config_path() -> Path:
    """Return the config file path: `$DSTACK_CONFIG` or `~/.dstack/config.yaml`."""
    override = os.environ.get("DSTACK_CONFIG")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".dstack" / "config.yaml"


ConfigFactory = Callable[[], Config]

_configured: Config | ConfigFactory | None = None


def configure(
    config: Config | ConfigFactory | None = None,
    *,
    profile: str = "default",
    server: str | None = None,
    user: str | None = None,
    token: str | None = None,
    team: str | None = None,
    verify: bool = True,
) -> None:
    """Set the configuration used by `push`, `pull` and `frame`.

    Pass a `Config` (or a function returning one), as with the original
    client, or the fields of one profile to keep it in memory:
    `configure(server="http://127.0.0.1:8080/api", user="alice", token="…")`.
    `configure(None)` with no fields goes back to the environment and the file.
    """
    global _configured

    fields = (server, user, token, team)
    if config is not None and any(value is not None for value in fields):
        raise ValueError(
            "pass either a Config or profile fields to configure(), not both"
        )

    if config is None and any(value is not None for value in fields):
        config = InPlaceConfig(
            [
                Profile(
                    name=profile,
                    user=user,
                    token=token,
                    server=server or DEFAULT_SERVER,
                    verify=verify,
                    team=team,
                )
            ]
        )
    _configured = config


def get_config() -> Config:
    """Return the active configuration (see the module docstring for the order)."""
    if isinstance(_configured, Config):
        return _configured
    if _configured is not None:
        return _configured()

    config = YamlConfig.load()
    environment_profile = _profile_from_environment()
    if environment_profile is not None:
        config.add_or_replace_profile(environment_profile)
    return config


def _profile_from_environment() -> Profile | None:
    server = os.environ.get("DSTACK_SERVER")
    token = os.environ.get("DSTACK_TOKEN")
    if not server or not token:
        return None
    return Profile(
        name="default",
        user=os.environ.get("DSTACK_USER") or None,
        token=token,
        server=server,
        team=os.environ.get("DSTACK_TEAM") or None,
    )


def get_profile(name: str = "default") -> Profile:
    return get_config().get_profile(name)
