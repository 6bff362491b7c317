"""Deprecated: moved to `rnnlab.tasks` (`load_run`, `evaluate_run`, `format_eval`) and `rnnlab.tasks.lm`
(`load_lm`, `sample_run`, `beam_text`); these names stay for one release."""

from .tasks import evaluate_run as eval_run  # noqa: F401
from .tasks import format_eval, load_run, run_task  # noqa: F401
from .tasks.lm import beam_text, load_lm, sample_run  # noqa: F401
