"""The Lambda entry point, `handler.app.handler`. Importing this module is the cold start.

At import (Lambda's INIT phase, once per container) the model bundle is found, verified, loaded
into one TensorFlow session and warmed up; a bad bundle raises here, so Lambda reports an INIT
error instead of serving wrong answers. Nothing happens in an ASGI lifespan hook: Mangum would
run it on every invocation.
"""

from __future__ import annotations

from handler.adapter import lambda_handler
from handler.api import create_app
from handler.config import Settings
from handler.loader import load_model

model = load_model(Settings.from_env())
app = create_app(model)
handler = lambda_handler(app)
