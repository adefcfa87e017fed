"""Schema 1 of `model.json`, as the freeze step wrote it before schema 2: one image input, one
classifier output. Such a bundle keeps serving unchanged: `ManifestV1.upgrade()` gives the same
model in schema 2, its version untouched (the version is what clients and pins already know)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from handler.manifest import (
    Artifact, Artifacts, Classification, ImageCodec, InputSpec, Manifest, Preprocessing, Source,
    TensorSpec, _Strict,
)


class ManifestV1(_Strict):
    schema_version: Literal[1]
    name: str
    version: str
    input: TensorSpec
    output: TensorSpec
    labels: list[str] = Field(min_length=2)
    decoding: Literal["softmax", "sigmoid"]
    preprocessing: Preprocessing
    graph: Artifact
    tflite: Artifact | None = None
    ops: list[str]
    tensorflow_version: str
    source: Source
    created_at: str

    @model_validator(mode="after")
    def _rank(self) -> ManifestV1:
        if len(self.input.shape) != 4:
            raise ValueError(f"a schema-1 input is an image batch, not shape {self.input.shape}")
        return self

    def upgrade(self) -> Manifest:
        """The same bundle in schema 2 (validated as such: preprocessing against the input shape,
        labels against the output)."""
        codec = ImageCodec(**self.preprocessing.model_dump())
        return Manifest(
            name=self.name,
            version=self.version,
            inputs=[InputSpec(**self.input.model_dump(), codec=codec)],
            outputs=[self.output],
            task=Classification(
                output=self.output.name, labels=self.labels, activation=self.decoding
            ),
            artifacts=Artifacts(graph=self.graph, tflite=self.tflite),
            ops=self.ops,
            tensorflow_version=self.tensorflow_version,
            source=self.source,
            created_at=self.created_at,
        )
