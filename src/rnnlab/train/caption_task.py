"""Deprecated: moved to `rnnlab.tasks.caption` (this name stays for one release, the very same module)."""

import sys

from ..tasks import caption as _moved

sys.modules[__name__] = _moved
