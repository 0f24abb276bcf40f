"""dstack: push plots, tables and files to a dstack server, and pull them back.

import dstack
dstack.push("sales/by-region", fig, region="EU")
fig = dstack.pull("sales/by-region", region="EU")
for row in dstack.progress(rows): ...   # progress of a job run
"""

from ._api import create_frame, delete, frame, pull, push, push_frame
from ._client import Client
from ._config import (
    Config,
    InPlaceConfig,
    Profile,
    YamlConfig,
    configure,
    get_config,
)
from ._encoders import (
    Attachment,
    Decoder,
    Encoded,
    Encoder,
    register_decoder,
    register_encoder,
)
from ._encoders._basic import FileDecoder, Markdown, md
from ._exceptions import (
    AuthenticationError,
    ChecksumError,
    ConfigurationError,
    DstackError,
    EncodingError,
    MatchError,
    NotFoundError,
    PermissionDeniedError,
    RevisionNotFoundError,
    ServerError,
    StackNotFoundError,
    TransportError,
    UploadError,
)
from ._names import Tab, tab
from ._progress import Progress, progress
from ._push import FrameMeta, PushResult, StackFrame
from ._version import __version__

__all__ = [
    "Attachment",
    "AuthenticationError",
    "ChecksumError",
    "Client",
    "Config",
    "ConfigurationError",
    "Decoder",
    "DstackError",
    "Encoded",
    "Encoder",
    "EncodingError",
    "FileDecoder",
    "FrameMeta",
    "InPlaceConfig",
    "Markdown",
    "MatchError",
    "NotFoundError",
    "PermissionDeniedError",
    "Profile",
    "Progress",
    "PushResult",
    "RevisionNotFoundError",
    "ServerError",
    "StackFrame",
    "StackNotFoundError",
    "Tab",
    "TransportError",
    "UploadError",
    "YamlConfig",
    "__version__",
    "configure",
    "create_frame",
    "delete",
    "frame",
    "get_config",
    "md",
    "progress",
    "pull",
    "push",
    "push_frame",
    "register_decoder",
    "register_encoder",
    "tab",
]
