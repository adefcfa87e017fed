"""The batch entry (`handler.batch.handler`) on Distributed Map batches against moto's S3: real
photos in many encodings and bad files, one record per input whatever the batch sizes, retries
and re-runs, transient failures retried without a record, a container dying mid-batch, the
limits, both runtimes alike, and a tensor model's .npy/.npz objects.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from handler.engines import OutputInsideInput, TransientBatchError, UnsupportedEvent
from handler.s3 import _transient
from tests.bulk_helpers import (
    INPUT_BUCKET, OUTPUT_BUCKET, OUTPUT_PREFIX, TEST_MAX_OBJECT_BYTES, bad_objects, batch_entry,
    batches, by_input, fail_calls, invoke, listed, map_batch, mocked_buckets, photo_objects,
    stored_records, upload,
)
from tests.handler_events import assert_alike
from tests.tensor_models import multi_io


def slow_down() -> ClientError:
    return ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                        "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")


@pytest.fixture(scope="module")
def s3() -> Any:
    with mocked_buckets() as client:
        yield client


@pytest.fixture(scope="module")
def objects(photos: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    return photo_objects(photos)


@pytest.fixture(scope="module")
def bad(photos: dict[str, Path]) -> dict[str, tuple[bytes, str]]:
    return bad_objects(photos)


@pytest.fixture(scope="module")
def uploaded(s3, objects, bad) -> list[dict]:
    upload(s3, {key: body for key, (body, _) in {**objects, **bad}.items()})
    return listed(s3)


@pytest.fixture(scope="module", params=["tensorflow", "litert"])
def entry(request, s3, demo_model_dir: Path):
    with batch_entry(MODEL_DIR=str(demo_model_dir), MODEL_RUNTIME=request.param,
                     MAX_OBJECT_BYTES=str(TEST_MAX_OBJECT_BYTES)) as module:
        yield module


def clear_output(s3: Any) -> None:
    for item in listed(s3, OUTPUT_BUCKET, OUTPUT_PREFIX):
        s3.delete_object(Bucket=OUTPUT_BUCKET, Key=item["Key"])


def test_every_input_gets_exactly_one_record_with_the_right_answer(
    s3, entry, uploaded, objects, bad
) -> None:
    clear_output(s3)
    summary = invoke(entry, map_batch(uploaded))
    assert summary["objects"] == len(uploaded) == len(objects) + len(bad)
    assert (summary["ok"], summary["errors"], summary["transient"]) == (len(objects), len(bad), 0)
    assert summary["failures"] == {code: 1 for _, code in bad.values()}
    records = by_input(stored_records(s3))
    assert len(records) == len(uploaded)
    for key, (body, label) in objects.items():
        record = records[f"photos/{key}"]
        assert record["status"] == "ok" and record["answer"]["label"] == label, key
        assert set(record["answer"]["probabilities"]) == {"cat", "dog"}
        assert abs(sum(record["answer"]["probabilities"].values()) - 1) < 1e-5
        assert (record["bucket"], record["size"], record["version_id"]) == (
            INPUT_BUCKET, len(body), None)
        assert record["model"] == entry.model.name and record["model_version"] == entry.model.version
    for key, (_, code) in bad.items():
        record = records[f"photos/{key}"]
        assert record["status"] == "error" and record["error"]["code"] == code, key
        assert record["error"]["message"] and "answer" not in record
    etags = {item["Key"]: item["Etag"].strip('"') for item in uploaded}
    assert all(record["etag"] == etags[key] for key, record in records.items())


def test_rerun_with_other_batch_sizes_writes_the_same_records(s3, entry, uploaded) -> None:
    """Batch sizes 1, 4 and all, in three runs: the same record objects, the same records."""
    clear_output(s3)
    invoke(entry, map_batch(uploaded))
    first = stored_records(s3)
    for size in (1, 4):
        for batch in batches(uploaded, size):
            invoke(entry, batch)
        again = stored_records(s3)
        assert again.keys() == first.keys()
        assert {k: r["status"] for k, r in again.items()} == {k: r["status"] for k, r in first.items()}
        for key, record in again.items():
            assert_alike(first[key], record, key, tolerance=1e-6)


def test_a_transient_failure_writes_no_record_and_the_retry_completes(s3, entry, uploaded) -> None:
    clear_output(s3)
    throttled = {uploaded[0]["Key"], uploaded[3]["Key"]}
    undo = fail_calls(entry.client, "GetObject", throttled, slow_down)
    try:
        with pytest.raises(TransientBatchError, match=r"2 of \d+ objects .*SlowDown.*retry"):
            invoke(entry, map_batch(uploaded))
    finally:
        undo()
    partial = by_input(stored_records(s3))
    assert set(partial) == {item["Key"] for item in uploaded} - throttled
    # The state machine's Retry re-runs the same batch: every input, still one record each.
    assert invoke(entry, map_batch(uploaded))["transient"] == 0
    assert len(by_input(stored_records(s3))) == len(uploaded)


def test_a_container_that_dies_mid_batch_loses_nothing(s3, entry, uploaded) -> None:
    """The runtime dies after some records were written (here: a crash on the third PUT); the
    engine's retry of that batch leaves exactly one record per input."""
    clear_output(s3)
    puts = []

    def crash(params: dict[str, Any], **_: Any) -> None:
        puts.append(params["Key"])
        if len(puts) == 3:
            raise SystemError("the container died")

    entry.client.meta.events.register("provide-client-params.s3.PutObject", crash)
    try:
        with pytest.raises(SystemError):
            invoke(entry, map_batch(uploaded))
    finally:
        entry.client.meta.events.unregister("provide-client-params.s3.PutObject", crash)
    assert 0 < len(stored_records(s3)) < len(uploaded)
    invoke(entry, map_batch(uploaded))
    assert len(by_input(stored_records(s3))) == len(uploaded)


def test_a_deleted_object_gets_an_error_record(s3, entry) -> None:
    clear_output(s3)
    gone = {"Key": "photos/deleted.jpg", "Etag": '"0123456789abcdef0123456789abcdef"',
            "LastModified": 1668699881, "Size": 34910, "StorageClass": "STANDARD"}
    assert invoke(entry, map_batch([gone]))["failures"] == {"object_not_found": 1}
    (record,) = stored_records(s3).values()
    assert record["error"]["code"] == "object_not_found"
    assert record["etag"] == "0123456789abcdef0123456789abcdef"  # the listing's, without a HEAD


def test_a_large_object_is_refused_on_its_head_without_a_download(s3, entry, uploaded) -> None:
    large = [item for item in uploaded if item["Key"].endswith("large.bin")]
    gets = []
    hook = lambda params, **_: gets.append(params["Key"])  # noqa: E731
    entry.client.meta.events.register("provide-client-params.s3.GetObject", hook)
    try:
        assert invoke(entry, map_batch(large))["failures"] == {"object_too_large": 1}
    finally:
        entry.client.meta.events.unregister("provide-client-params.s3.GetObject", hook)
    assert gets == []


def test_batches_larger_than_max_batch_run_in_chunks(s3, entry, uploaded, monkeypatch) -> None:
    """35 photos with MAX_BATCH 32: two model runs (32 + 3), 35 records."""
    photos = [item for item in uploaded if not item["Key"].startswith("photos/bad/")]
    many = [photos[i % len(photos)] for i in range(35)]
    runs = []
    real = entry.model.runtime.run
    monkeypatch.setattr(entry.model.runtime, "run",
                        lambda feeds, fetches: runs.append(len(feeds["input"])) or real(feeds, fetches))
    assert invoke(entry, map_batch(many))["ok"] == 35
    assert runs == [32, 3]


def test_output_inside_the_input_prefix_is_refused(entry) -> None:
    event = map_batch([])
    event["BatchInput"] |= {"OutputBucket": INPUT_BUCKET, "OutputPrefix": "photos/records/"}
    with pytest.raises(OutputInsideInput, match="overlaps input"):
        invoke(entry, event)
    event["BatchInput"] |= {"OutputPrefix": ""}  # the whole bucket holds the input prefix
    with pytest.raises(OutputInsideInput):
        invoke(entry, event)


def test_records_under_the_output_prefix_are_never_inputs(s3, entry, uploaded) -> None:
    """An output prefix beside the input one in the same bucket is fine, and should a listing
    reach a record, it is skipped without a record of its own."""
    invoke(entry, map_batch(uploaded[:1]))
    record_key = next(iter(stored_records(s3)))
    item = {"Key": record_key, "Etag": '"x"', "Size": 1, "LastModified": 1, "StorageClass": "STANDARD"}
    event = map_batch([item])
    event["BatchInput"] |= {"InputBucket": OUTPUT_BUCKET, "InputPrefix": "elsewhere/"}
    summary = invoke(entry, event)
    assert (summary["skipped"], summary["ok"] + summary["errors"]) == (1, 0)


def test_events_of_no_engine_are_refused(entry) -> None:
    for event in ({}, {"Records": [{"eventSource": "aws:s3"}]}, [1, 2],
                  {"Items": [], "BatchInput": {"InputBucket": INPUT_BUCKET}}):
        with pytest.raises(UnsupportedEvent):
            invoke(entry, event)


def test_both_runtimes_write_the_same_answers(s3, demo_model_dir, uploaded) -> None:
    answers = {}
    for runtime in ("tensorflow", "litert"):
        clear_output(s3)
        with batch_entry(MODEL_DIR=str(demo_model_dir), MODEL_RUNTIME=runtime,
                         MAX_OBJECT_BYTES=str(TEST_MAX_OBJECT_BYTES)) as module:
            invoke(module, map_batch(uploaded))
        answers[runtime] = stored_records(s3)
    assert answers["tensorflow"].keys() == answers["litert"].keys()
    assert_alike(answers["tensorflow"], answers["litert"], "records")


@pytest.mark.parametrize(("error", "transient"), [
    (slow_down(), True),
    (ClientError({"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                 "GetObject"), True),
    (ClientError({"Error": {"Code": "PreconditionFailed"},
                  "ResponseMetadata": {"HTTPStatusCode": 412}}, "GetObject"), True),
    (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), True),
    (ClientError({"Error": {"Code": "404"}, "ResponseMetadata": {"HTTPStatusCode": 404}},
                 "HeadObject"), False),
    (ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                 "GetObject"), False),
], ids=["slow-down", "500", "replaced-since-head", "read-timeout", "not-found", "access-denied"])
def test_s3_errors_are_transient_only_when_a_retry_can_fix_them(error, transient) -> None:
    assert (_transient(error) is not None) == transient


# --- a tensor model: .npy / .npz objects ---------------------------------------------------------

def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def example(n: int, length: int) -> dict[str, np.ndarray]:
    return {"features": np.arange(3, dtype=np.float32) + n, "ids": np.arange(length, dtype=np.int32),
            "flag": np.array(n % 2 == 0)}


@pytest.fixture(scope="module")
def multi_dir(tmp_path_factory) -> Path:
    return multi_io(tmp_path_factory.mktemp("multi"))


@pytest.mark.parametrize("runtime", ["tensorflow", "litert"])
def test_a_tensor_model_reads_npz_objects_by_input_name(s3, multi_dir, runtime) -> None:
    """multi_io: features float32 [?, 3], ids int32 [?, ?] (any length: examples of different
    lengths run in different batches), flag bool [?]. Bad files get the API's codes."""
    good = {f"tensors/{n}.npz": example(n, 2 + n % 3) for n in range(7)}
    batched = {"tensors/batched.npz": {k: v[None] for k, v in example(7, 4).items()}}
    bad = {
        "tensors/bad/missing.npz": (npz(features=np.zeros(3, np.float32)), "missing_input"),
        "tensors/bad/unknown.npz": (npz(**example(0, 2), extra=np.zeros(1)), "unknown_input"),
        "tensors/bad/float-ids.npz": (npz(**{**example(0, 2), "ids": np.zeros(2)}), "wrong_dtype"),
        "tensors/bad/two-rows.npz": (npz(**{**example(0, 2), "features": np.zeros((2, 3))}),
                                     "wrong_shape"),
        "tensors/bad/one.npy": (npy(np.zeros(3, np.float32)), "missing_input"),
        "tensors/bad/pickled.npz": (npz(**{**example(0, 2), "ids": np.array([{"a": 1}])}),
                                    "wrong_dtype"),
        "tensors/bad/photo.jpg": (b"\xff\xd8\xff\xe0 not a tensor", "not_a_tensor_file"),
        "tensors/bad/range.npz": (npz(**{**example(0, 2), "ids": np.array([2**40, 1])}),
                                  "out_of_range"),
    }
    upload(s3, {**{k: npz(**v) for k, v in {**good, **batched}.items()},
                **{k: body for k, (body, _) in bad.items()}}, prefix="")
    items = listed(s3, prefix="tensors/")
    clear_output(s3)
    with batch_entry(MODEL_DIR=str(multi_dir), MODEL_RUNTIME=runtime) as module:
        event = map_batch(items)
        event["BatchInput"]["InputPrefix"] = "tensors/"
        summary = invoke(module, event)
    assert (summary["ok"], summary["errors"]) == (len(good) + 1, len(bad))
    records = by_input(stored_records(s3))
    for key, arrays in {**good, **batched}.items():
        outputs = records[key]["answer"]["outputs"]
        features, ids = arrays["features"].reshape(3), arrays["ids"].reshape(-1)
        flag = bool(arrays["flag"].reshape(()))
        assert outputs["total"] == pytest.approx(float(features.sum()) + flag)
        assert outputs["doubled"] == (ids * 2).tolist()
        assert len(outputs["scores"]) == 2
    for key, (_, code) in bad.items():
        assert records[key]["error"]["code"] == code, key


def test_a_one_input_tensor_model_reads_npy_objects(s3, tmp_path_factory) -> None:
    """tensor_models.strings (one string input, text [?]): each .npy one example, with or
    without a batch dimension of 1, text or bytes; numbers where strings belong are refused."""
    from tests.tensor_models import strings

    model_dir = strings(tmp_path_factory.mktemp("strings"))
    good = {"texts/hello.npy": (np.array("hello"), "hello"),
            "texts/naive.npy": (np.array(["naïve"]), "naïve"),
            "texts/bytes.npy": (np.array(b"raw bytes"), "raw bytes")}
    bad = {"texts/bad/number.npy": (np.array(1.5), "wrong_dtype"),
           "texts/bad/two.npy": (np.array(["a", "b"]), "wrong_shape"),  # 2 examples, not one
           "texts/bad/latin1.npy": (np.array(b"caf\xe9"), "output_not_text")}
    upload(s3, {key: npy(array) for key, (array, _) in {**good, **bad}.items()}, prefix="")
    clear_output(s3)
    with batch_entry(MODEL_DIR=str(model_dir)) as module:
        event = map_batch(listed(s3, prefix="texts/"))
        event["BatchInput"]["InputPrefix"] = "texts/"
        invoke(module, event)
    records = by_input(stored_records(s3))
    for key, (_, text) in good.items():
        assert records[key]["answer"]["outputs"]["echo"] == text, key
        assert records[key]["answer"]["outputs"]["echo_bytes"] == {
            "b64": base64.b64encode(text.encode()).decode()}
    assert records["texts/bad/number.npy"]["error"]["code"] == "wrong_dtype"
    assert records["texts/bad/two.npy"]["error"]["code"] == "wrong_shape"
    assert records["texts/bad/latin1.npy"]["error"]["code"] == "output_not_text"
