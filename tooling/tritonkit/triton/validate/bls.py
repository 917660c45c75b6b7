"""A Python model's declared BLS callees (parameter `bls_models`): each is another model of the
same repository, so that loading the model with them (tritonkit loads callees first) can work."""

from __future__ import annotations

from tritonkit.triton.model_config import BLS_MODELS, callees
from tritonkit.triton.validate.layout import bad_name
from tritonkit.triton.validate.problem import CONFIG_FILE, Model, Problem


def check_callees(model: Model) -> list[Problem]:
    field = f"parameters[{BLS_MODELS!r}]"
    problems = []
    for name in callees(model.config):
        if name == model.dir.name:
            problems.append(model.problem(field, repr(name), "other models: a model cannot call itself"))
        elif bad_name(name) or not (model.repository / name / CONFIG_FILE).is_file():
            expected = f"a model of {model.repository} (a directory holding {CONFIG_FILE}) that it sends requests to"
            problems.append(model.problem(field, repr(name), expected))
    return problems
