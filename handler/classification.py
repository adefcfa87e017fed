"""The classification task: a classifier output's scores -> labels with probabilities.

The manifest's `task` names the output, its labels and its activation (softmax: one probability
per label; sigmoid: one unit = P(labels[1])). Only the native API reads answers this way; TF
Serving and v2 return the output tensor itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from handler.manifest import Classification


@dataclass(frozen=True)
class Ranking:
    """One input's answer: its label and every label's probability, most likely first."""

    label: str
    ranked: list[tuple[str, float]]


def probabilities(task: Classification, scores: np.ndarray) -> np.ndarray:
    """The task output's tensor -> (batch, labels) probabilities."""
    rows = scores.reshape(len(scores), -1)
    if task.activation == "sigmoid":
        positive = rows[:, :1]
        return np.hstack([1.0 - positive, positive])
    return rows


def classify(task: Classification, scores: np.ndarray) -> list[Ranking]:
    """The task output's tensor -> one Ranking per input row."""
    answers = []
    for row in probabilities(task, scores):
        order = np.argsort(-row, kind="stable")
        ranked = [(task.labels[i], float(row[i])) for i in order]
        answers.append(Ranking(label=ranked[0][0], ranked=ranked))
    return answers
