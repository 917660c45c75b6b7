"""tritonkit: serve foundation models on NVIDIA Triton with the latency/throughput tradeoff measured."""

__version__ = "0.1.0"
