"""The inference loop over a data loader that feeds detectron2-style evaluators
(`reset`, `process(inputs, outputs)`, `evaluate`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import torch

Advance = Callable[[int], None]


class Evaluator(Protocol):
    """detectron2's evaluator interface: what the inference loop feeds."""

    def reset(self) -> None: ...

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None: ...

    def evaluate(self) -> dict[str, Any]: ...


def inference_on_dataset(
    detector: Callable[[list[torch.Tensor]], list[dict[str, torch.Tensor]]],
    loader: Iterable[tuple[Sequence[torch.Tensor], Sequence[dict]]],
    evaluators: Sequence[Evaluator],
    inputs_of: Callable[[Sequence[torch.Tensor], Sequence[dict]], list[dict[str, Any]]],
    *,
    progress: Advance | None = None,
) -> list[dict[str, Any]]:
    """Run `detector` once over `loader` (batches of images and targets), feed every
    evaluator with `inputs_of(images, targets)` and the outputs, return their results."""
    for evaluator in evaluators:
        evaluator.reset()
    for images, targets in loader:
        outputs = detector(list(images))
        inputs = inputs_of(images, targets)
        for evaluator in evaluators:
            evaluator.process(inputs, outputs)
        if progress is not None:
            progress(len(images))
    return [evaluator.evaluate() for evaluator in evaluators]
