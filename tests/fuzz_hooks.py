"""schemathesis hooks for tests/test_fuzz.py (loaded through tests/schemathesis.toml).

`accepted_or_declared` is schemathesis's own `positive_data_acceptance` (a request valid by the
OpenAPI schema must not be refused with a 4xx), except a refusal whose error `code` the
configuration declares for that operation, with the reason no schema can say it:

    [[operations]]
    include-path-regex = "..."
    checks.accepted_or_declared.refusals = { not_an_image = "why no schema can say it" }

A declaration names the error (the answer's `code`, or the `message` of API Gateway's own
answers, which have no code), not the status, so every other refusal of a valid request still
fails the run.

`map_case` makes Open Inference requests the fuzzer generates fill their shapes (below).
"""

from __future__ import annotations

import math

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance


@schemathesis.check
def accepted_or_declared(ctx, response, case) -> bool | None:
    """positive_data_acceptance, except the refusals declared for this operation."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        declared = ctx.config.custom_kwargs.get("accepted_or_declared", {}).get("refusals", {})
        try:
            body = response.json()
            code = body.get("code", body.get("message"))
        except (ValueError, AttributeError):
            code = None
        if code in declared:
            return None
        raise


#: the most values a repaired tensor gets: bigger ones (a batch of the demo's 256x256 images)
#: keep their generated data, and get the declared refusal
MAX_FILLED = 4096
#: a value of each datatype, for `data` generated empty
FILLER = {"BOOL": False, "BYTES": ""}


@schemathesis.hook
def map_case(ctx, case):
    """An Open Inference infer request valid by the schema, made valid beyond it: every input's
    batch the first's, its `data` as many values as its `shape` says (its own values repeated),
    which no schema can say. Without it hardly any generated request would reach the model.
    Only positive cases: a negative one keeps the violation it was generated for."""
    inputs = case.body.get("inputs") if isinstance(case.body, dict) else None
    if (not ctx.operation.path.endswith("/infer") or case.meta is None
            or not case.meta.generation.mode.is_positive or not isinstance(inputs, list)):
        return case
    tensors = [t for t in inputs if isinstance(t, dict) and isinstance(t.get("shape"), list)]
    batch = next((t["shape"][0] for t in tensors if t["shape"]), None)
    for tensor in tensors:
        shape = tensor["shape"]
        if shape and tensor.get("datatype") != "BYTES":
            shape[0] = batch
        count = int(math.prod(shape))  # a dimension may be spelled 3.0
        values = list(_leaves(tensor.get("data"))) or [FILLER.get(tensor.get("datatype"), 0)]
        if count <= MAX_FILLED:
            tensor["data"] = (values * count)[:count]
    return case


def _leaves(data):
    if isinstance(data, list):
        for item in data:
            yield from _leaves(item)
    elif data is not None:
        yield data
