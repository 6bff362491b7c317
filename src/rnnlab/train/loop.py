"""Deprecated: moved to `rnnlab.tasks.lm` (this name stays for one release, the very same module)."""

import sys

from ..tasks import lm as _moved

sys.modules[__name__] = _moved
