"""config.pbtxt fields named by a dotted path, for search-space dimensions beyond the built-in ones:
`optimization.graph.level`, `dynamic_batching.preserve_ordering`, `parameters[enable_mem_pattern]`
(a map entry in brackets: a ModelParameter's string_value). Pure."""

from __future__ import annotations

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.specs import INT64_MAX

FieldValue = int | float | str | bool

_KINDS = {
    FieldDescriptor.CPPTYPE_INT32: "an integer within int32", FieldDescriptor.CPPTYPE_INT64: "an integer within int64",
    FieldDescriptor.CPPTYPE_UINT32: "an integer within uint32", FieldDescriptor.CPPTYPE_UINT64: "an integer ≥ 0",
    FieldDescriptor.CPPTYPE_FLOAT: "a number", FieldDescriptor.CPPTYPE_DOUBLE: "a number",
    FieldDescriptor.CPPTYPE_STRING: "a string", FieldDescriptor.CPPTYPE_ENUM: "one of its enum names",
}  # fmt: skip


def set_field(config: ModelConfig, path: str, value: FieldValue) -> None:
    """Set the field `path` names in `config` (see FieldDimension); raises ValueError/TypeError
    when the path or the value does not fit the ModelConfig schema."""
    message: Message = config
    parts = path.split(".")
    for depth, part in enumerate(parts):
        name, _, key = part.partition("[")
        key = key.rstrip("]")
        descriptor = message.DESCRIPTOR.fields_by_name.get(name)
        if descriptor is None:
            raise ValueError(f"{message.DESCRIPTOR.name} has no field {name!r}")
        last = depth == len(parts) - 1
        if key:
            if not (descriptor.message_type and descriptor.message_type.GetOptions().map_entry):
                raise ValueError(f"{name!r} is not a map: it takes no [key]")
            entry = getattr(message, name)[_map_key(descriptor, name, key)]
            if last:
                if not hasattr(entry, "string_value"):
                    raise ValueError(f"{name}[{key}] is a message: name one of its fields")
                entry.string_value = str(value).lower() if isinstance(value, bool) else str(value)
                return
            message = entry
            continue
        if descriptor.is_repeated:
            raise ValueError(f"{name!r} is a repeated field: it is not a dimension")
        if last:
            if descriptor.message_type is not None:
                raise ValueError(f"{name!r} is a message: name one of its fields")
            if descriptor.enum_type is not None:
                value = _enum_number(descriptor, value)
            wants_bool = descriptor.type == descriptor.TYPE_BOOL
            try:
                if isinstance(value, bool) != wants_bool:
                    raise TypeError
                setattr(message, name, value)
            except (TypeError, ValueError):
                kind = "true or false" if wants_bool else _KINDS.get(descriptor.cpp_type, "a value")
                raise TypeError(f"{name!r} takes {kind}") from None
            return
        if descriptor.message_type is None:
            raise ValueError(f"{name!r} is not a message: nothing follows it")
        message = getattr(message, name)


def _map_key(descriptor: FieldDescriptor, name: str, key: str) -> str | int:
    """A map's key as its type: `parameters` takes strings, `priority_queue_policy` integers."""
    if descriptor.message_type.fields_by_name["key"].cpp_type == FieldDescriptor.CPPTYPE_STRING:
        return key
    if not key.isdigit():
        raise ValueError(f"{name!r} takes integer keys, not {key!r}")
    return int(key)


def _enum_number(descriptor: FieldDescriptor, value: FieldValue) -> int:
    """A named value of the field's enum, by name or number (proto3 would take any integer)."""
    enum = descriptor.enum_type
    if isinstance(value, str) and value in enum.values_by_name:
        return int(enum.values_by_name[value].number)
    if isinstance(value, int) and not isinstance(value, bool) and value in enum.values_by_number:
        return value
    raise ValueError(f"{descriptor.name!r} takes one of {', '.join(enum.values_by_name)}")


# The model's identity and I/O are not the tuner's to change, and the built-in dimensions own their
# fields: a `fields` entry naming one would fight them.
OWNED_FIELDS = (
    "name", "platform", "backend", "input", "output", "default_model_filename", "version_policy", "model_warmup",
    "max_batch_size", "instance_group", "dynamic_batching.max_queue_delay_microseconds",
    "dynamic_batching.preferred_batch_size", "dynamic_batching.default_queue_policy",
    "parameters[intra_op_thread_count]", "parameters[inter_op_thread_count]",
)  # fmt: skip
# Fields that change what is measured rather than how it is served: another scheduler (it would
# replace the dynamic batcher: Triton takes one), a decoupled protocol, cached answers to the
# repeated payloads, priorities the load never sets.
NOT_MEASURABLE = (
    "sequence_batching", "ensemble_scheduling", "model_transaction_policy", "response_cache",
    "dynamic_batching.priority_levels", "dynamic_batching.default_priority_level",
    "dynamic_batching.priority_queue_policy",
)  # fmt: skip


def _under(path: str, fields: tuple[str, ...]) -> str | None:
    return next((f for f in fields if path == f or path.startswith((f + ".", f + "["))), None)


def field_problem(path: str, value: FieldValue) -> str | None:
    """Why `value` cannot be set at `path` in a ModelConfig, or None."""
    owner = _under(path, OWNED_FIELDS)
    if owner:
        return f"{owner} is the model's identity or a built-in dimension, not a field to add"
    unmeasurable = _under(path, NOT_MEASURABLE)
    if unmeasurable:
        return f"{unmeasurable} changes what the load measures, not how the model is served"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT64_MAX:
        return "out of the int64 range"
    try:
        set_field(ModelConfig(), path, value)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None
