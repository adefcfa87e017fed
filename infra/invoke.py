"""`sam local invoke` without Docker: a fresh process, one cold start, then the given events.

    python -m infra.invoke events/http-health.json [more.json ...] [--env KEY=VAL ...]
    python -m infra.invoke events/http-health.json --function LiteInferenceFunction   # LiteRT
    python -m infra.invoke events/bulk/sqs-s3-notifications.json --function BatchFunction

The handler is imported in this new process (the INIT phase, reported as Init Duration), then
invoked once per event file, in order, like one warm Lambda container. Each response is printed
to stdout as one line of JSON; everything else (the function's logs, START/END/REPORT lines)
goes to stderr. Memory size, timeout and entry point come from template.yaml (the batch
functions read and write S3: point the SDK at it, e.g. AWS_ENDPOINT_URL for a local one). Exits 1 if the INIT phase or any
invocation failed (a Lambda error, not an HTTP error status).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path
from typing import Any

from infra.lambda_runtime import (
    BATCH_FUNCTIONS, DEFAULT_FUNCTION, FUNCTIONS, LocalFunction, claim_stdout, error_payload,
)


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VAL, got {text!r}")
    return key, value


def _read_event(path: str) -> Any:
    return json.load(sys.stdin) if path == "-" else json.loads(Path(path).read_text("utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", nargs="+", help="event JSON files ('-' reads stdin)")
    parser.add_argument("--handler", help="module.attribute to invoke (default: the function's)")
    parser.add_argument("--function", choices=FUNCTIONS + BATCH_FUNCTIONS, default=DEFAULT_FUNCTION,
                        help="template.yaml function whose memory, timeout and environment to use")
    parser.add_argument(
        "--env", type=_env_pair, action="append", default=[], metavar="KEY=VAL",
        help="environment variable for the function (repeatable; overrides template.yaml)",
    )
    args = parser.parse_args(argv)
    events = [_read_event(path) for path in args.events]

    responses = claim_stdout()
    try:
        function = LocalFunction.cold_start(args.handler, dict(args.env), args.function)
    except Exception as exc:  # Lambda reports an INIT failure as the invocation's error
        traceback.print_exc()
        print(json.dumps({**error_payload(exc, ""), "errorType": "Runtime.ImportModuleError"}),
              file=responses, flush=True)
        return 1

    failed = False
    for event in events:
        outcome = function.invoke(event)
        failed |= outcome.error
        print(json.dumps(outcome.response, separators=(",", ":")), file=responses, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
