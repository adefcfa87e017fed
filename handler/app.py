"""The Lambda entry point, `handler.app.handler`. Importing this module is the cold start.

At import (Lambda's INIT phase, once per container) the model bundle (or every served version
of a repository) is found, verified, loaded into its runtime and warmed up; a bad bundle raises
here, so Lambda reports an INIT error instead of serving wrong answers. Nothing happens in an ASGI lifespan hook: Mangum would
run it on every invocation. With SnapStart the snapshot is taken after this import, once the
hooks registered last (handler/snapstart.py) have dropped what restored copies must not share.
"""

from __future__ import annotations

from handler.heap import init_phase

with init_phase():  # the collector paused, then what INIT made frozen (handler/heap.py)
    from handler.adapter import lambda_handler
    from handler.api import build_protocols, create_app
    from handler.config import Settings
    from handler.loader import load_catalog
    from handler.snapstart import install as install_snapstart_hooks

    catalog = load_catalog(Settings.from_env())
    app = create_app(catalog)
    handler = lambda_handler(app)
    # SnapStart: what is built on first use at an on-demand INIT is built into the snapshot
    install_snapstart_hooks(before=[lambda: build_protocols(app), app.openapi])
