"""SnapStart's runtime hooks: what INIT made that restored copies must not share.

With SnapStart (template.yaml's SnapStart parameter) Lambda runs INIT once, when a version is
published, snapshots the whole microVM (memory and /tmp) and starts every new execution
environment of that version from the snapshot: many copies, each resuming from the same bytes.
What INIT leaves in memory is then shared by all of them. The Lambda runtime client runs the
before-snapshot hooks (in reverse order of registration) once INIT is done, and the
after-restore hooks (in order) in each restored copy before its first invocation
(awslambdaric's `on_init_complete`; `snapshot-restore-py` holds the registries).

Before the snapshot:
- every S3 model source's client is closed and dropped (handler/source.py): no pooled TLS
  connection, and no credentials it signed with, are frozen in; so is boto3's default session,
  which caches the credentials it resolved. A restored copy that downloads again (a lazy
  repository's version whose cached file went missing) makes a new client, with the credentials
  of its own environment.
- metrics recorded during INIT are flushed now, so that they are counted once, not once by each
  restored copy's first invocation;
- Powertools' cold-start flags are set back to true if anything cleared them: each restored
  copy's first invocation is a cold start of a new environment (it waited for the restore and
  the hooks), the one that its REPORT line's Restore Duration belongs to;
- garbage is collected, what INIT froze included (handler/heap.py), so that no unreachable
  client or socket is snapshotted either; what is left is frozen again.

After each restore:
- Python's `random` (which Powertools' log sampling draws from) and, if it was imported,
  numpy's legacy global generator are reseeded from the OS's CSPRNG (`os.urandom`: the kind of
  generator AWS's "Handling uniqueness with Lambda SnapStart" says to use): every copy had the
  snapshot's state, so every copy would otherwise draw the same numbers;
- the log sampling decision (POWERTOOLS_LOGGER_SAMPLE_RATE) made at INIT with that shared state
  is made again.

What stays, on purpose: the loaded models (TensorFlow session or LiteRT interpreter) and their
warm-up, the catalog, the app and its routes, the imported modules: the whole point of the
snapshot. None of it is random or unique: a frozen graph holds no random ops (handler/trust.py
admits none unless EXTRA_ALLOWED_OPS names them), uuid4 and X-Ray's ids come from `os.urandom`, and no request id, timestamp or
credential is created at INIT. Not renewable from Python: the string hash seed
(PYTHONHASHSEED), fixed when the interpreter started, is the same in every restored copy.
"""

from __future__ import annotations

import gc
import random
import sys
from collections.abc import Callable, Iterable

from snapshot_restore_py import (
    get_after_restore, get_before_snapshot, register_after_restore, register_before_snapshot,
)

from handler.observability import logger, metrics, model_metrics
from handler.source import disconnect_s3_sources

Hook = Callable[[], object]


def before_snapshot() -> None:
    """Drop what must be unique or fresh in each restored copy (the module's docstring)."""
    for sink in (metrics, model_metrics):
        if sink.metric_set:
            sink.flush_metrics()
    closed = disconnect_s3_sources()
    forgot_session = _forget_boto3_session()
    _reset_cold_start_flags()
    gc.unfreeze()  # INIT's objects too (handler/heap.py froze them): what was dropped is garbage
    gc.collect()
    gc.freeze()
    logger.info("before snapshot", extra={"s3_clients_closed": closed,
                                          "boto3_session_dropped": forgot_session})


def after_restore() -> None:
    """Renew what each restored copy must have of its own (the module's docstring)."""
    random.seed()  # from os.urandom
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()  # legacy global RandomState, from the OS's entropy
    logger.refresh_sample_rate_calculation()
    logger.info("restored from snapshot")


def _forget_boto3_session() -> bool:
    """Drop boto3's default session (it caches the credentials it resolved), if boto3 was ever
    imported; the next client resolves them again, in the restored environment."""
    boto3 = sys.modules.get("boto3")
    if boto3 is None or boto3.DEFAULT_SESSION is None:
        return False
    boto3.DEFAULT_SESSION = None
    return True


def _reset_cold_start_flags() -> None:
    """Powertools' module flags (Logger, Tracer, Metrics) to "the next invocation is a cold
    start", in whichever of those modules is loaded."""
    for name in ("aws_lambda_powertools.logging.logger", "aws_lambda_powertools.tracing.tracer",
                 "aws_lambda_powertools.metrics.provider.cold_start",
                 "aws_lambda_powertools.metrics.base"):
        module = sys.modules.get(name)
        if module is not None:
            module.is_cold_start = True


def install(before: Iterable[Hook] = (), after: Iterable[Hook] = ()) -> None:
    """Register the hooks with the runtime client (once), plus an entry's own: `before` run
    before this module's (the runtime runs before-snapshot hooks last-registered first), `after`
    after this module's reseeding."""
    if not any(func is before_snapshot for func, _, _ in get_before_snapshot()):
        register_before_snapshot(before_snapshot)
    if not any(func is after_restore for func, _, _ in get_after_restore()):
        register_after_restore(after_restore)
    for hook in before:
        register_before_snapshot(hook)
    for hook in after:
        register_after_restore(hook)
