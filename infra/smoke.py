"""Post-deploy smoke test: is the API at URL up, serving a sane model, and right on real photos?

    python -m infra.smoke https://abc123.execute-api.us-east-1.amazonaws.com
    python -m infra.smoke URL --sigv4              # ApiAuth=IAM: signs with your AWS credentials
    python -m infra.smoke URL --bearer "$TOKEN"    # ApiAuth=JWT
    python -m infra.smoke URL --expect my.jpg=cat  # another model: your own photos and labels

One line per check: GET /health, GET /models and every served model (name, version, signature,
a classifier's labels; every version loaded), TF Serving's status of each, and one multipart
POST /predict per photo to the default model (default: the bundled kitten is a cat and the dog
a dog, which only the demo model gets right). Exit status 0 if every check passes, 1 otherwise,
2 for bad arguments. Standard library only (botocore is imported for --sigv4 alone), so it runs
on any CI runner after `sam deploy`; it is not part of the function.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_EXPECT = ("kitten=cat", "dog=dog")
Signer = Callable[[str, str, bytes | None, dict[str, str]], dict[str, str]]


class CheckFailed(Exception):
    """A check's failure, with the one-line reason to print."""


@dataclass
class Api:
    """JSON over HTTP to the deployed API (any stage prefix is part of `base`)."""

    base: str
    timeout: float = 30.0
    headers: dict[str, str] = field(default_factory=dict)
    sign: Signer | None = None

    def call(self, method: str, path: str, body: bytes | None = None,
             content_type: str | None = None) -> Any:
        url = self.base.rstrip("/") + path
        headers = {"Accept": "application/json", **self.headers}
        if content_type:
            headers["Content-Type"] = content_type
        if self.sign:
            headers = self.sign(method, url, body, headers)
        request = urllib.request.Request(url, body, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode(errors="replace")
            raise CheckFailed(f"{method} {path} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CheckFailed(f"cannot reach {url}: {reason}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise CheckFailed(f"{method} {path} did not answer JSON: {raw[:100]!r}") from None


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body with one `file` part per (filename, bytes)."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        for name, data in files
    )
    return body + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class Smoke:
    """The checks, sharing what earlier ones learned (the models' names and labels)."""

    api: Api
    models: list[dict[str, Any]] = field(default_factory=list)

    def health(self) -> str:
        body = self.api.call("GET", "/health")
        if body.get("status") != "ok":
            raise CheckFailed(f"status is {body.get('status')!r}, not 'ok'")
        return f"ok, {body['model']} {body['version']}"

    def metadata(self) -> str:
        """GET /models, then every served model's signature (and a classifier's labels)."""
        listed = self.api.call("GET", "/models").get("models") or []
        if not listed:
            raise CheckFailed("GET /models lists no model")
        unloaded = [f"{m['name']} {v['version']}" for m in listed for v in m["versions"]
                    if v.get("state") != "available"]
        if unloaded:
            raise CheckFailed(f"versions not loaded: {', '.join(unloaded)}")
        summaries = [self._model(m["name"]) for m in listed]
        return "; ".join(summaries)

    def _model(self, name: str) -> str:
        body = self.api.call("GET", f"/models/{name}")
        if not re.fullmatch(r"[0-9a-f]{12}", str(body.get("version"))):
            raise CheckFailed(f"{name}: version {body.get('version')!r} is not 12 hex digits")
        inputs = [spec.get("name") for spec in body.get("inputs") or []]
        outputs = [spec.get("name") for spec in body.get("outputs") or []]
        if not (inputs and outputs and all(inputs) and all(outputs)):
            raise CheckFailed(f"{name}: inputs {inputs} and outputs {outputs} do not name the "
                              "signature")
        self.models.append(body)
        if body.get("task") is None:  # a tensor model
            return (f"{body['name']} {body['version']}, inputs {', '.join(inputs)}, outputs "
                    f"{', '.join(outputs)}")
        labels = body["task"].get("labels")
        if not (isinstance(labels, list) and len(labels) >= 2 and len(set(labels)) == len(labels)
                and all(isinstance(label, str) and label for label in labels)):
            raise CheckFailed(f"{name}: labels {labels!r} are not two or more distinct names")
        return f"{body['name']} {body['version']}, labels {', '.join(labels)}"

    def tf_serving(self) -> str:
        if not self.models:
            raise CheckFailed("no model names (GET /models failed)")
        for model in self.models:
            body = self.api.call("GET", f"/v1/models/{model['name']}")
            states = {v.get("state") for v in body.get("model_version_status", [])}
            if states != {"AVAILABLE"}:
                raise CheckFailed(f"{model['name']}: version states {sorted(states)}, expected "
                                  "every one AVAILABLE")
        return ", ".join(f"{m['name']} AVAILABLE" for m in self.models)

    def predict(self, photo: Path, label: str) -> str:
        data, content_type = multipart([(photo.name, photo.read_bytes())])
        body = self.api.call("POST", "/predict", data, content_type)
        (answer,) = body["predictions"]
        probabilities = answer["probabilities"]
        if abs(sum(probabilities.values()) - 1) > 1e-3:
            raise CheckFailed(f"probabilities {probabilities} do not sum to 1")
        got = f"{answer['label']} ({answer['probability']:.2f})"
        if answer["label"] != label:
            labels = list(probabilities)
            known = "" if label in labels else f"; {label!r} is not one of its labels {labels}"
            raise CheckFailed(f"{photo.name}: expected {label}, got {got}{known}")
        return f"{photo.name} -> {got}"


def run(api: Api, expect: list[tuple[Path, str]], out: Callable[[str], None] = print) -> bool:
    """Run every check, print one line each, then a summary; True if all passed."""
    smoke = Smoke(api)
    checks: list[tuple[str, Callable[[], str]]] = [
        ("health", smoke.health), ("models", smoke.metadata), ("tf-serving", smoke.tf_serving),
        *((f"predict {label}", lambda p=photo, want=label: smoke.predict(p, want))
          for photo, label in expect),
    ]
    failed = 0
    for name, check in checks:
        start = time.perf_counter()
        try:
            detail, status = check(), "PASS"
        except CheckFailed as exc:
            detail, status = str(exc), "FAIL"
        except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a misshapen answer
            detail, status = f"unexpected answer ({type(exc).__name__}: {exc})", "FAIL"
        failed += status == "FAIL"
        out(f"{status}  {name:<16} {detail} ({(time.perf_counter() - start) * 1e3:.0f} ms)")
    if failed:
        out(f"smoke test FAILED: {failed} of {len(checks)} checks failed against {api.base}")
    else:
        out(f"smoke test passed: {len(checks)} checks against {api.base}")
    return not failed


def sigv4_signer(url: str) -> Signer:
    """SigV4 signing for an IAM-authorized HTTP API, with the default AWS credential chain."""
    import botocore.session  # only --sigv4 pays for it
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    session = botocore.session.get_session()
    credentials = session.get_credentials()
    if credentials is None:
        raise SystemExit("error: --sigv4 found no AWS credentials (env, profile or role)")
    host = re.match(r"[^.]+\.execute-api\.([^.]+)\.", urlsplit(url).hostname or "")
    region = host.group(1) if host else session.get_config_variable("region")
    if not region:
        raise SystemExit("error: --sigv4 cannot tell the region: set AWS_REGION")

    def sign(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), "execute-api", region).add_auth(request)
        return dict(request.headers.items())

    return sign


def expectation(text: str) -> tuple[Path, str]:
    """`kitten=cat` (a bundled photo) or `path/to/photo.jpg=cat` -> (photo file, label)."""
    photo, sep, label = text.rpartition("=")
    if not (sep and photo and label):
        raise argparse.ArgumentTypeError(f"{text!r} is not PHOTO=LABEL")
    path = Path(photo)
    if not path.is_file():
        from demo.photos import PHOTOS, photo_path  # the bundled photos (catsordogs, skimage)

        if photo not in PHOTOS:
            raise argparse.ArgumentTypeError(
                f"{photo!r} is neither a file nor one of {list(PHOTOS)}"
            )
        try:
            path = photo_path(photo)
        except FileNotFoundError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return path, label


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.smoke", description=__doc__.split("\n")[0]
    )
    parser.add_argument("url", help="the API's base URL (the stack's ApiUrl output)")
    parser.add_argument("--expect", action="append", type=expectation, metavar="PHOTO=LABEL",
                        help=f"a photo and its label, repeatable "
                             f"(default: {' '.join(DEFAULT_EXPECT)})")
    auth = parser.add_mutually_exclusive_group()
    auth.add_argument("--sigv4", action="store_true", help="sign requests (ApiAuth=IAM)")
    auth.add_argument("--bearer", metavar="TOKEN", help="send a bearer token (ApiAuth=JWT)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    args = parser.parse_args(argv)
    if urlsplit(args.url).scheme not in ("http", "https"):
        parser.error(f"{args.url!r} is not an http(s) URL")
    expect = args.expect or [expectation(text) for text in DEFAULT_EXPECT]
    api = Api(args.url, args.timeout,
              {"Authorization": f"Bearer {args.bearer}"} if args.bearer else {},
              sigv4_signer(args.url) if args.sigv4 else None)
    return 0 if run(api, expect) else 1


if __name__ == "__main__":
    sys.exit(main())
