"""Streamed generation requests over gRPC's bidirectional stream (ModelStreamInfer), as protobuf
messages built once and sent many times, and what a response of the stream says: how many tokens it
carries, and whether it is the final one. Shared by tritonkit's asyncio client and the Locust
streaming user, so nothing here may import asyncio or gevent-sensitive modules.

A decoupled generator ends its stream with an empty response flagged final; Triton forwards that
response only to a client that asks for it (`triton_enable_empty_final_response`), and without it a
client could not tell a finished stream from a slow one. tritonclient's aio stream_infer cannot ask
(the parameter is reserved), hence the messages here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from tritonclient.grpc import service_pb2

from tritonkit.triton.infer import grpc_request

TOKEN_OUTPUT = "token_id"
_EMPTY_FINAL = "triton_enable_empty_final_response"
_FINAL = "triton_final_response"


def stream_request(model: str, version: str, inputs: Mapping[str, np.ndarray]) -> service_pb2.ModelInferRequest:
    """One generation request (its tensors as raw bytes), asking for the final empty response."""
    request = grpc_request(model, version, inputs)
    request.parameters[_EMPTY_FINAL].bool_param = True
    return request


def tokens_in(response: service_pb2.ModelStreamInferResponse) -> int:
    """The tokens one response carries: the elements of its token output (0 in the final one)."""
    return sum(math.prod(o.shape) for o in response.infer_response.outputs if o.name == TOKEN_OUTPUT)


def is_final(response: service_pb2.ModelStreamInferResponse) -> bool:
    parameters = response.infer_response.parameters
    return _FINAL in parameters and parameters[_FINAL].bool_param
