"""Deprecated: the text tasks moved to `rnnlab.tasks.classify`, `.tag`, `.seq2seq` and `.text` (runs);
this module re-exports their names for one release."""

from ..tasks.classify import *  # noqa: F403
from ..tasks.classify import BagOfWordsConfig, ClassifyDataConfig, ClassifyRunConfig, ClassifyTask  # noqa: F401
from ..tasks.seq2seq import *  # noqa: F403
from ..tasks.seq2seq import Seq2SeqDataConfig, Seq2SeqRunConfig, Seq2SeqTask  # noqa: F401
from ..tasks.tag import *  # noqa: F403
from ..tasks.tag import TagDataConfig, TagRunConfig, TagTask  # noqa: F401
from ..tasks.text import *  # noqa: F403
from ..tasks.text import TASKS, evaluate_run, load_task_run, predict_text, translate_text  # noqa: F401
from ..tasks.text_common import *  # noqa: F403
from ..tasks.text_common import EVAL_BATCH, warn  # noqa: F401
