"""Loaded by Python at start-up in a local SnapStart container that forks restored copies
(infra/snapshot.py puts this folder first on PYTHONPATH): registers the fork server as the
first before-snapshot hook, so that it runs last (awslambdaric runs them in reverse order),
once the function's own hooks have run: the snapshot point."""

import os

if os.environ.get("_LOCAL_LAMBDA_FORK_FD"):
    from infra.snapshot_fork import install

    install()
