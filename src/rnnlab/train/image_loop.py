"""Deprecated: moved to `rnnlab.tasks.image` (this name stays for one release, the very same module)."""

import sys

from ..tasks import image as _moved

sys.modules[__name__] = _moved
