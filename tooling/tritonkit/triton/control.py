"""Model control over gRPC, checked: a (re)load with an optional config override, validated before
the server sees it, and read back after, for the local server and for one already running (whose
repository tritonkit reads from a local copy: the same files the server was started on).

A running server must be in explicit model-control mode (`--model-control-mode=explicit`) for a
load with an override; the error says so when it is not.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import tritonclient.grpc as grpcclient
from google.protobuf import json_format
from tritonclient.utils import InferenceServerException

from tritonkit.errors import InputError, ServerError
from tritonkit.triton import model_config
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.validate import validate_model


def stub_free(message: str) -> str:
    """Load errors from Python backends carry the stub's traceback ("\n\nAt:\n  ..."): keep the message."""
    return re.sub(r"\n\nAt:\n.*?(?=;|$)", "", message, flags=re.DOTALL).strip()


def load_checked(
    client: grpcclient.InferenceServerClient, repository: Path, name: str, config: ModelConfig | None,
    log_tail: Callable[[], str] = str, *, loading: frozenset[str] = frozenset(),
) -> None:  # fmt: skip
    """Load (or reload) `name`, from its config.pbtxt or from `config` as an override, and check
    the server runs exactly that config. Validated first: a config Triton would refuse, or one
    that could take the server down, never reaches it. The BLS models it calls are loaded first
    where they are not ready (explicit model control loads them with no one else)."""
    problems = validate_model(repository / name, config, repository=repository)
    if problems:
        listed = "\n  ".join(str(problem) for problem in problems)
        raise InputError(f"model '{name}': not loaded, its configuration is invalid:\n  {listed}")
    declared = config if config is not None else model_config.read_config(repository / name / "config.pbtxt")
    for callee in model_config.callees(declared):
        if callee not in loading and not client.is_model_ready(callee):
            load_checked(client, repository, callee, None, log_tail, loading=loading | {name})
    override = json_format.MessageToJson(config) if config is not None else None
    try:
        client.load_model(name, config=override)
    except InferenceServerException as exc:
        message = f"model '{name}' failed to load: {stub_free(exc.message())}"
        raise ServerError(message, model=name, log=log_tail()) from None
    verify(client, repository, name, config)


def verify(
    client: grpcclient.InferenceServerClient, repository: Path, name: str, expected: ModelConfig | None = None
) -> None:
    """Fail unless the server's effective config for `name` matches `expected` (default: the
    model's config.pbtxt in the repository)."""
    if expected is None:
        expected = model_config.read_config(repository / name / "config.pbtxt")
    served = client.get_model_config(name, as_json=False).config
    differences = model_config.differences(expected, served)
    if differences:
        raise ServerError(
            f"model '{name}': the server runs a different config than the one written:\n  " + "\n  ".join(differences)
        )


def unload(client: grpcclient.InferenceServerClient, name: str, timeout_s: float = 60.0) -> None:
    try:
        client.unload_model(name)
    except InferenceServerException as exc:
        raise ServerError(f"model '{name}' failed to unload: {exc.message()}", model=name) from None
    deadline = time.monotonic() + timeout_s
    while client.is_model_ready(name):
        if time.monotonic() > deadline:
            raise ServerError(f"model '{name}' still ready {timeout_s:.0f} s after unload", model=name)
        time.sleep(0.1)
