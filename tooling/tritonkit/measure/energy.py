"""Energy per inference, only where it can be measured (NVML's energy counter on NVIDIA GPUs),
an estimate labelled with its model where the targets give the host's power, and otherwise
"not available". Never a number without its method."""

from __future__ import annotations

from typing import Any

from tritonkit.measure.measurement import Energy


class NvmlMeter:
    """Sum of the cumulative energy counters (mJ since driver load) of every visible GPU."""

    def __init__(self, nvml: Any) -> None:
        self._nvml = nvml
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        if not self._handles:
            raise RuntimeError("no GPU visible to NVML")
        self.method = f"measured: NVML total energy counter of {len(self._handles)} GPU(s), board level"

    def read_joules(self) -> float:
        return sum(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles) / 1000


def gpu_meter() -> NvmlMeter | None:
    """An NVML meter when the NVIDIA driver and pynvml (nvidia-ml-py) are there, else None."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        meter = NvmlMeter(pynvml)
        meter.read_joules()  # pre-Volta GPUs have no energy counter: fail here, not mid-run
    except Exception:
        return None
    return meter


def energy_per_inference(
    meter: NvmlMeter | None,
    joules: float | None,
    duration_s: float,
    inferences: int,
    host_watts: float | None,
) -> Energy:
    if inferences <= 0:
        return Energy(None, "not available: no successful inference")
    if meter is not None and joules is not None:
        return Energy(joules / inferences, meter.method)
    if host_watts is not None:
        return Energy(
            host_watts * duration_s / inferences,
            f"estimate: constant host power {host_watts:g} W (targets file) x time / inferences",
        )
    return Energy(None, "not available: no GPU energy counter (NVML) here, and no host_watts in the targets file")
