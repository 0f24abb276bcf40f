"""The configuration API of the original client: `dstack.config.configure(...)`."""

from ._config import (
    Config,
    ConfigFactory,
    InPlaceConfig,
    Profile,
    YamlConfig,
    config_path,
    configure,
    get_config,
    get_profile,
)

__all__ = [
    "Config",
    "ConfigFactory",
    "InPlaceConfig",
    "Profile",
    "YamlConfig",
    "config_path",
    "configure",
    "get_config",
    "get_profile",
]
