"""`sam local invoke` without Docker: one fresh Lambda container, one cold start, the given events.

    python -m infra.invoke events/http-health.json [more.json ...] [--env KEY=VAL ...]
    python -m infra.invoke events/http-health.json --function LiteInferenceFunction   # LiteRT
    python -m infra.invoke events/http-predict-dog-jpeg.json --memory-size 512
    python -m infra.invoke events/bulk/sqs-s3-notifications.json --function BatchFunction

The container (infra/container.py) runs `python -m awslambdaric <handler>`, the real runtime
interface client, against a local Runtime API, with template.yaml's environment, memory size
(or --memory-size), timeout, and Lambda's CPU share and memory cap (cgroups, when run as root).
Its INIT is the cold start; the events are then invoked in order, like one warm container.
Each response (or Lambda's error payload) is printed to stdout as one line of JSON; everything
else (the function's logs; START/END/REPORT lines with Duration, Billed Duration, Memory Size,
Max Memory Used, Init Duration) goes to stderr. The batch functions read and write S3: point
the SDK at it, e.g. AWS_ENDPOINT_URL for a local one. Exits 1 if INIT or any invocation failed
(a Lambda error, not an HTTP error status). A container that is killed or times out is
replaced by a fresh one for the next event, as Lambda does. --snapstart restores the container
from a snapshot taken after INIT (infra/snapshot.py) and reports its Restore Duration.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

from infra.container import INIT_CPU, Options
from infra.lambda_runtime import (
    BATCH_FUNCTIONS, DEFAULT_FUNCTION, FUNCTIONS, FunctionConfig, claim_stdout, function_config,
)
from infra.pool import Pool


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VAL, got {text!r}")
    return key, value


def _read_event(path: str) -> Any:
    try:
        return json.load(sys.stdin) if path == "-" else json.loads(Path(path).read_text("utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON ({exc})") from None


def container_arguments(parser: argparse.ArgumentParser, functions: tuple[str, ...]) -> None:
    """The options that say which function runs and how its containers are limited."""
    parser.add_argument("--function", choices=functions, default=DEFAULT_FUNCTION,
                        help="template.yaml function whose memory, timeout and environment to use")
    parser.add_argument("--handler", help="module.attribute to run (default: the function's)")
    parser.add_argument("--memory-size", type=int, metavar="MB",
                        help="Lambda memory size (default: the function's MemorySize); CPU "
                             "follows it, 1,769 MB = 1 vCPU")
    parser.add_argument("--init-cpu", choices=INIT_CPU, default=INIT_CPU[0],
                        help="INIT's CPU: burst (at least one vCPU) or proportional (the memory's share)")
    parser.add_argument("--no-limits", action="store_true",
                        help="run without cgroup CPU and memory limits")
    parser.add_argument("--snapstart", action="store_true",
                        help="SnapStart: restore containers from a snapshot taken after INIT")
    parser.add_argument(
        "--env", type=_env_pair, action="append", default=[], metavar="KEY=VAL",
        help="environment variable for the function (repeatable; overrides template.yaml)",
    )


def container_setup(args: argparse.Namespace) -> tuple[FunctionConfig, Options]:
    """The function's configuration and the containers' options, from those arguments."""
    config = function_config(args.function)
    if args.handler:
        config = dataclasses.replace(config, handler=args.handler)
    options = Options(
        memory_mb=args.memory_size or config.memory_mb, timeout_s=config.timeout_s,
        init_cpu=args.init_cpu, limits=not args.no_limits, snapstart=args.snapstart,
    )
    return config, options


def stop_on_sigterm() -> None:
    """SIGTERM ends this process as Ctrl+C does, through exit handlers that stop every
    container (infra/container.py) instead of leaving their runtimes frozen."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("events", nargs="+", help="event JSON files ('-' reads stdin)")
    container_arguments(parser, FUNCTIONS + BATCH_FUNCTIONS)
    args = parser.parse_args(argv)
    try:
        events = [_read_event(path) for path in args.events]
    except (OSError, ValueError) as exc:
        parser.error(f"cannot read an event: {exc} (an event is a JSON file, e.g. events/*.json)")
    config, options = container_setup(args)

    responses = claim_stdout()
    stop_on_sigterm()
    # one container at a time, in order; one that ends is replaced by a fresh one
    pool = Pool(config, options, dict(args.env), max_concurrency=1, snapstart=args.snapstart)
    failed = False
    try:
        for event in events:
            outcome = pool.invoke(event)
            failed |= outcome.error
            print(json.dumps(outcome.response, separators=(",", ":")), file=responses,
                  flush=True)
    finally:
        pool.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
