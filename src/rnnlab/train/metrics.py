"""The run's metrics log (`rnnlab.runlog`), under the name the trainer has always used."""

from ..runlog import LN2, MetricsLog, lm_metrics, read_metrics  # noqa: F401
