"""The graphs int8 may quantize, one prepared graph's: as prepared, or smoothed with each alpha of
export.smoothing; and for each, its weight MatMuls ranked by what int8 costs them there
(export.sensitivity). Activations are read once, on the calibration inputs: a smoothed graph's
are the prepared graph's divided by the scales, so it is never run."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from tritonkit.export import activations, sensitivity, smoothing
from tritonkit.export.tasks import Batch


class Int8Graphs:
    alphas: tuple[float, ...] = smoothing.ALPHAS

    def __init__(self, prepared: Path, calibration: list[Batch]) -> None:
        self.prepared, self.calibration = prepared, calibration

    @cached_property
    def _model(self) -> onnx.ModelProto:
        return onnx.load(str(self.prepared))

    @cached_property
    def _groups(self) -> dict[str, list[int]]:
        return activations.weight_matmuls_by_input(self._model)

    @cached_property
    def _weights(self) -> dict[str, np.ndarray]:
        return {init.name: numpy_helper.to_array(init) for init in self._model.graph.initializer}

    @cached_property
    def _rows(self) -> dict[str, np.ndarray]:
        return activations.read_rows(self._model, list(self._groups), self.calibration)

    def _scales(self, alpha: float) -> dict[str, np.ndarray]:
        nodes = self._model.graph.node
        scales = {}
        for activation, places in self._groups.items():
            weights = [self._weights[nodes[place].input[1]] for place in places]
            scales[activation] = smoothing.scales(self._rows[activation], weights, alpha)
        return scales

    def graph(self, alpha: float | None) -> Path:
        if alpha is None:
            return self.prepared
        output = self.prepared.with_name(f"smoothed_{alpha:g}.onnx")
        if not output.exists():
            onnx.save(smoothing.smoothed(self._model, self._groups, self._scales(alpha)), str(output))
        return output

    def matmuls(self) -> set[str]:
        nodes = self._model.graph.node
        return {nodes[place].name for places in self._groups.values() for place in places}

    def ranked(self, alpha: float | None) -> list[str]:
        """Weight MatMul names, the costliest in int8 first."""
        by_activation = self._scales(alpha) if alpha is not None else {}
        nodes, errors = self._model.graph.node, {}
        for activation, places in self._groups.items():
            factors = by_activation.get(activation)
            rows = self._rows[activation] if factors is None else self._rows[activation] / factors
            for place in places:
                weight = self._weights[nodes[place].input[1]]
                scaled = weight if factors is None else weight * factors[:, None]
                errors[nodes[place].name] = sensitivity.int8_error(rows, scaled)
        return sorted(errors, key=lambda name: errors[name], reverse=True)
