"""Deprecated: moved to `rnnlab.tasks.transfer` (this name stays for one release, the very same module)."""

import sys

from ..tasks import transfer as _moved

sys.modules[__name__] = _moved
