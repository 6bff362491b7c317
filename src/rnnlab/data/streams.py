"""Deprecated: moved to `rnnlab.data.text.streams`; this module only re-exports it for old imports."""

from rnnlab.data.text.streams import *  # noqa: F403
from rnnlab.data.text.streams import StreamBatcher  # noqa: F401
