"""What several commands share: the default tasks and the task option's help (one source for each)."""

from __future__ import annotations

TASK_HELP = "Taxonomy: cmed6, cmed7, megc3, spotting, dfme7, casme2, samm."
#: What a model learns by default (evaluate, train, the demo): CMED's six emotions, as its baselines (Table VI).
RECOGNITION_TASK = "cmed6"
#: What a dataset's tables count by default (stats): every CMED label, No-ME included, as CMED's Table II does.
DESCRIPTION_TASK = "cmed7"
