"""A Ray session for the stages that spread work over Ray (``--executor ray``): folds, recordings."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def ray_session(address: str | None, *, num_cpus: int) -> Iterator[Any]:
    """Yield the ``ray`` module, connected to ``address`` or to a local instance of ``num_cpus`` CPUs.

    A session that was already running is used as it is and left running;
    one started here is shut down on leaving.

    Raises
    ------
    ValueError
        When Ray is not installed (with the command that installs it).
    """
    try:
        import ray
    except ImportError:
        raise ValueError("--executor ray needs Ray: pip install 'mextk[ray]'") from None
    started = False
    if not ray.is_initialized():
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, num_cpus), include_dashboard=False, log_to_driver=False)
        started = True
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()
