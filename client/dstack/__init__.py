"""dstack: push plots, tables and files to a dstack server, and pull them back.

import dstack
dstack.push("sales/by-region", fig, region="EU")
fig = dstack.pull("sales/by-region", region="EU")
for row in dstack.progress(rows): ...   # progress of a job run

dstack.models.push("churn", model, metrics={"auc": 0.91})
model = dstack.models.pull("churn", alias="production")
"""

from . import models
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
    LibraryVersionWarning,
    MatchError,
    ModelLoadError,
    ModelNotFoundError,
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
from ._registry import ModelVersion, Models, RegisteredModel
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
    "LibraryVersionWarning",
    "Markdown",
    "MatchError",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelVersion",
    "Models",
    "NotFoundError",
    "PermissionDeniedError",
    "Profile",
    "Progress",
    "PushResult",
    "RegisteredModel",
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
    "models",
    "pull",
    "push",
    "push_frame",
    "register_decoder",
    "register_encoder",
    "tab",
]
