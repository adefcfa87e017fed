"""`sam deploy`'s package step over a built template, offline: SAM CLI's own code, fake uploaders.

    .venv-tools/bin/python tests/sam_package.py BUILT_TEMPLATE OUT_DIR

Runs samcli's PackageContext._export (what `sam package` and `sam deploy` run on
.aws-sam/build/template.yaml) with SAM's own uploaders, their one network call (upload) replaced
by a recording: each zip SAM would upload is copied into OUT_DIR. Prints one JSON object: the
packaged template and the uploads ({"s3": [[kept zip, s3 url]], "ecr": [[image, resource]]}).
Run it with the tools venv's Python (aws-sam-cli is not in the runtime venv).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import boto3
from samcli.commands.package.package_context import PackageContext
from samcli.lib.package.code_signer import CodeSigner
from samcli.lib.package.ecr_uploader import ECRUploader
from samcli.lib.package.s3_uploader import S3Uploader
from samcli.lib.package.uploaders import Uploaders


class RecordingS3(S3Uploader):
    """SAM's S3 uploader (names each object by its content's MD5) keeping a copy of each file
    instead of sending it: SAM deletes its temporary zip after the upload."""

    def __init__(self, out: Path) -> None:
        super().__init__(boto3.client("s3", region_name="us-east-1"), "recorded-bucket")
        self.out = out
        self.uploads: list[list[str]] = []

    def upload(self, file_name: str, remote_path: str) -> str:
        kept = self.out / remote_path
        shutil.copyfile(file_name, kept)
        url = f"s3://{self.bucket_name}/{remote_path}"
        self.uploads.append([str(kept), url])
        return url


class RecordingEcr(ECRUploader):
    """SAM's ECR uploader, recording the local images it would push."""

    def __init__(self) -> None:
        super().__init__(None, None, None, None, no_progressbar=True)
        self.uploads: list[list[str]] = []

    def upload(self, image: str, resource_name: str) -> str:
        self.uploads.append([image, resource_name])
        return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/recorded:{resource_name.lower()}"


def main(template: str, out: str) -> None:
    s3, ecr = RecordingS3(Path(out)), RecordingEcr()
    context = PackageContext(
        template, s3_bucket="recorded-bucket", image_repository=None, image_repositories=None,
        s3_prefix=None, kms_key_id=None, output_template_file=None, use_json=True,
        force_upload=False, no_progressbar=True, metadata=None, region="us-east-1",
        profile=None, on_deploy=True,
    )
    context.uploaders = Uploaders(s3, ecr)
    context.code_signer = CodeSigner(None, None)
    packaged = json.loads(context._export(template, use_json=True))
    print(json.dumps({"template": packaged, "uploads": {"s3": s3.uploads, "ecr": ecr.uploads}}))


if __name__ == "__main__":
    main(*sys.argv[1:])
