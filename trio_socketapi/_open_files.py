"""Making room for ``max_connections`` in the process's open-files limit.

Every connection is a file descriptor. Many systems start processes with a soft limit of 1024
while allowing far more (the hard limit), so without this a server configured for 10,000
connections would fail ``accept`` with ``EMFILE`` at about a thousand. Raising the soft limit
up to the hard one needs no privilege and affects nothing else (Go's runtime does the same for
every program); a hard limit that is too low is only reported, since raising it needs root.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("trio_socketapi")

SPARE_FILES = 64
"""Descriptors kept for everything besides client connections: listeners, the broker, logs."""


def soft_limit_to_set(soft: int, hard: int, wanted: int, unlimited: int) -> int | None:
    """The soft limit to set so that ``wanted`` descriptors fit, or ``None`` to leave it.

    ``unlimited`` is the platform's ``RLIM_INFINITY``. Never lowers the limit; never asks for
    more than ``hard``.
    """
    if soft == unlimited or soft >= wanted:
        return None
    target = wanted if hard == unlimited else min(wanted, hard)
    return target if target > soft else None


def ensure_open_files_for(max_connections: int) -> None:
    """Raise the soft open-files limit so ``max_connections`` clients fit, where the OS allows.

    Logs a warning when the hard limit leaves less room than ``max_connections`` asks for.
    Does nothing where the ``resource`` module does not exist (Windows).
    """
    try:
        import resource
    except ImportError:
        return
    wanted = max_connections + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = soft_limit_to_set(soft, hard, wanted, resource.RLIM_INFINITY)
    if target is not None:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            logger.warning("could not raise the open-files limit from %d: %s", soft, exc)
        else:
            logger.debug("open-files limit raised from %d to %d", soft, target)
            soft = target
    if soft != resource.RLIM_INFINITY and soft < wanted:
        logger.warning(
            "open-files limit %d leaves room for about %d connections, below max_connections=%d;"
            " raise it (ulimit -n) or lower max_connections",
            soft,
            max(soft - SPARE_FILES, 0),
            max_connections,
        )
