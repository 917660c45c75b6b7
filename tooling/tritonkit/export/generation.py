"""Text generation: greedy decoding through an exported KV-cache decoder against PyTorch's greedy
decoding (what the gates compare), and the streaming generator model written beside each decoder.

The decoder graph (optimum's text-generation-with-past) takes input_ids, attention_mask (past plus
new tokens long), position_ids where the export has them and past_key_values.{i}.key/value
[batch, heads, past, head dim]; it returns logits and present.{i}.key/value, the cache grown by the
new tokens. A prompt's first step feeds the whole prompt with an empty cache (past length 0), each
later step the one token chosen, with the cache the step before returned. The generator model
(triton/generator/model.py) runs the same loop inside Triton, through BLS requests to the decoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch
from transformers import AutoTokenizer
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig
from tritonclient.utils import triton_to_np_dtype

from tritonkit.errors import InputError
from tritonkit.export import gates
from tritonkit.export.reference import load_torch_model
from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import TASKS, Batch
from tritonkit.specs import GenerationSpec
from tritonkit.triton.model_config import declare_callees
from tritonkit.triton.onnx_signature import DYNAMIC, TensorSignature, read_signature

PAST, PRESENT = "past_key_values.", "present."
GENERATOR_SUFFIX = "_generate"
GENERATOR_FILE = "model.py"
GENERATOR_SOURCE = Path(__file__).resolve().parents[1] / "triton" / "generator" / GENERATOR_FILE
# Threads per generator instance: streams decoding at once (each mostly waits on the decoder);
# more wait for a thread rather than crowd the decoder's instances.
MAX_STREAMS = 8


@dataclass(frozen=True)
class Decoder:
    """The KV cache a decoder graph takes and returns, read from its signature."""

    cache: tuple[tuple[str, str], ...]  # (present output, the past input it feeds on the next step)
    heads: int
    head_dim: int
    cache_type: str  # Triton data type of the cache tensors, e.g. TYPE_FP32
    position_ids: bool  # the graph takes position_ids (otherwise it counts positions from the mask)
    vocab_size: int

    def empty_cache(self) -> dict[str, np.ndarray]:
        empty = np.zeros((1, self.heads, 0, self.head_dim), triton_to_np_dtype(self.cache_type.removeprefix("TYPE_")))
        return {past: empty for _, past in self.cache}

    def step(self, fed: list[int], length: int, cache: dict[str, np.ndarray]) -> Batch:
        return step_feeds(fed, length, cache, position_ids=self.position_ids)


def step_feeds(fed: list[int], length: int, cache: dict[str, np.ndarray], *, position_ids: bool) -> Batch:
    """The feeds of one step: the `fed` new tokens, ending at position `length`, after `cache`."""
    feeds = {"input_ids": np.array([fed], np.int64), "attention_mask": np.ones((1, length), np.int64), **cache}
    if position_ids:
        feeds["position_ids"] = np.arange(length - len(fed), length, dtype=np.int64)[None, :]
    return feeds


def read_decoder(path: Path) -> Decoder:
    signature = read_signature(path)
    inputs = {t.name: t for t in signature.inputs}
    outputs = {t.name: t for t in signature.outputs}
    pasts = [t for name, t in inputs.items() if name.startswith(PAST)]
    problems = [f"no input {name}" for name in ("input_ids", "attention_mask") if name not in inputs]
    logits = outputs.get("logits")
    if logits is None or len(logits.dims) != 3 or logits.dims[-1] == DYNAMIC:
        problems.append("no output logits [batch, sequence, vocabulary size]")
    problems += [f"input {t.name} has no output {_present(t.name)}" for t in pasts if _present(t.name) not in outputs]
    layout = _cache_layout(pasts)
    if layout is None:
        shapes = sorted({t.dims for t in pasts})
        problems.append(f"past_key_values.* inputs are {shapes or 'missing'}, not [batch, heads, past, head dim] each")
    if problems or layout is None:
        raise InputError(f"{path}: not a KV-cache decoder tritonkit can drive: {'; '.join(problems)}")
    heads, head_dim, cache_type = layout
    return Decoder(
        cache=tuple((_present(t.name), t.name) for t in pasts),
        heads=heads,
        head_dim=head_dim,
        cache_type=cache_type,
        position_ids="position_ids" in inputs,
        vocab_size=outputs["logits"].dims[-1],
    )


def _present(past: str) -> str:
    return PRESENT + past.removeprefix(PAST)


def _cache_layout(pasts: list[TensorSignature]) -> tuple[int, int, str] | None:
    """(heads, head dim, data type), one for every cache input; None where there is no such one."""
    layouts = {(t.dims[1], t.dims[3], t.data_type) if len(t.dims) == 4 else None for t in pasts}
    layout = layouts.pop() if len(layouts) == 1 else None
    return layout if layout is not None and DYNAMIC not in layout[:2] else None


@dataclass(frozen=True)
class Decoded:
    tokens: list[list[int]]  # each prompt's greedy continuation
    first_logits: np.ndarray  # the first step's logits at every position of every prompt, stacked


def prompt_ids(folder: Path, texts: list[str], max_length: int) -> list[list[int]]:
    """Each text's token ids, alone (no padding: a decoder's prompt is one sequence)."""
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    return [tokenizer(text, truncation=True, max_length=max_length)["input_ids"] for text in texts]


def decode_onnx(path: Path, prompts: list[list[int]], new_tokens: int) -> Decoded:
    """Greedy decoding through the graph's own KV-cache loop in ONNX Runtime."""
    decoder = read_decoder(path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = ["logits", *(present for present, _ in decoder.cache)]
    tokens, first = [], []
    for prompt in prompts:
        chosen: list[int] = []
        cache, fed = decoder.empty_cache(), prompt
        for _ in range(new_tokens):
            logits, *presents = session.run(outputs, decoder.step(fed, len(prompt) + len(chosen), cache))
            if not chosen:
                first.append(logits[0])
            chosen.append(int(np.argmax(logits[0, -1])))
            cache = {past: array for (_, past), array in zip(decoder.cache, presents, strict=True)}
            fed = chosen[-1:]
        tokens.append(chosen)
    return Decoded(tokens, np.concatenate(first))


@torch.inference_mode()
def decode_torch(source: ResolvedSource, prompts: list[list[int]], new_tokens: int) -> Decoded:
    """PyTorch's greedy decoding, an explicit loop on its own KV cache: the argmax at every step and
    nothing else. generate() would also apply the model's logits processors and stop at EOS; the
    gates compare plain argmax decoding of a fixed length, which is what the graph computes."""
    model = load_torch_model(source, TASKS["text-generation"])
    tokens, first = [], []
    for prompt in prompts:
        output = model(input_ids=torch.tensor([prompt]), use_cache=True)
        first.append(output.logits[0].float().numpy())
        chosen = [int(output.logits[0, -1].argmax())]
        while len(chosen) < new_tokens:
            output = model(
                input_ids=torch.tensor([chosen[-1:]]), past_key_values=output.past_key_values, use_cache=True
            )
            chosen.append(int(output.logits[0, -1].argmax()))
        tokens.append(chosen)
    return Decoded(tokens, np.concatenate(first))


def compare(candidate: Decoded, expected: Decoded) -> gates.GenerationMetrics:
    rows = gates.metrics(candidate.first_logits, expected.first_logits)
    agreement = gates.token_agreement(candidate.tokens, expected.tokens)
    return gates.GenerationMetrics(rows.max_abs_diff, rows.mean_cosine, agreement)


# -- what the source's config says about generation ---------------------------------------------


def max_positions(folder: Path) -> int | None:
    """The context: prompt plus new tokens (GPT-2's n_positions, max_position_embeddings elsewhere)."""
    config = json.loads((folder / "config.json").read_text())
    positions = config.get("n_positions") or config.get("max_position_embeddings")
    return int(positions) if isinstance(positions, int) else None


def eos_token_ids(folder: Path) -> list[int]:
    """The ids generation stops at: generation_config.json's (what generate() uses), else config.json's."""
    for name in ("generation_config.json", "config.json"):
        if (folder / name).is_file():
            eos = json.loads((folder / name).read_text()).get("eos_token_id")
            if eos is not None:
                return [eos] if isinstance(eos, int) else [int(i) for i in eos]
    return []


def source_problems(folder: Path, spec: GenerationSpec) -> list[str]:
    positions = max_positions(folder)
    if positions is None:
        return [f"source: {folder}/config.json gives no n_positions or max_position_embeddings (the context)"]
    checked = {"gate_new_tokens": spec.gate_new_tokens}
    if "max_new_tokens" in spec.model_fields_set:  # its default is capped at the context (new_tokens_cap)
        checked["max_new_tokens"] = spec.max_new_tokens
    return [
        f"generation.{field} {value} leaves no room for a prompt in the model's {positions} positions"
        for field, value in checked.items()
        if value >= positions
    ]


def new_tokens_cap(spec: GenerationSpec, positions: int) -> int:
    """The most new tokens a request may ask for: generation.max_new_tokens, where the recipe left
    it at its default within the context (a one-token prompt and the rest new)."""
    return min(spec.max_new_tokens, positions - 1)


# -- serving --------------------------------------------------------------------------------------


def generator_name(decoder_model: str) -> str:
    return decoder_model + GENERATOR_SUFFIX


def generator_config(decoder_model: str, decoder: Decoder, folder: Path, spec: GenerationSpec) -> ModelConfig:
    """The decoupled Python model that streams greedy tokens from `decoder_model` (see its model.py)."""
    positions = max_positions(folder)
    assert positions is not None, "checked by source_problems"
    config = ModelConfig(
        name=generator_name(decoder_model), backend="python", max_batch_size=0, default_model_filename=GENERATOR_FILE
    )
    config.model_transaction_policy.decoupled = True
    config.input.add(name="input_ids", data_type=mc.TYPE_INT64, dims=[DYNAMIC])
    config.input.add(name="max_new_tokens", data_type=mc.TYPE_INT32, dims=[1])
    config.output.add(name="token_id", data_type=mc.TYPE_INT64, dims=[1])
    config.instance_group.add(kind=mc.ModelInstanceGroup.KIND_CPU, count=1)
    parameters = {
        "decoder_model": decoder_model,
        "cache": json.dumps([list(pair) for pair in decoder.cache]),
        "cache_shape": json.dumps([decoder.heads, decoder.head_dim]),
        "cache_data_type": decoder.cache_type,
        "position_ids": "true" if decoder.position_ids else "false",
        "vocab_size": str(decoder.vocab_size),
        "eos_token_ids": json.dumps(eos_token_ids(folder)),
        "max_new_tokens": str(new_tokens_cap(spec, positions)),
        "max_positions": str(positions),
        "max_streams": str(MAX_STREAMS),
    }
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    declare_callees(config, [decoder_model])
    return config


def tensorrt_profiles(decoder: Decoder, input_names: list[str], positions: int) -> dict[str, str]:
    """ONNX Runtime's TensorRT profile shapes for a decoder, batch 1: from one token on an empty
    cache to a whole-context prompt, tuned for a decode step halfway through the context."""

    def shapes(past: int, new: int, mask: int) -> str:
        dims: dict[str, tuple[int, ...]] = {
            "input_ids": (1, new),
            "position_ids": (1, new),
            "attention_mask": (1, mask),
        }
        dims |= {name: (1, decoder.heads, past, decoder.head_dim) for _, name in decoder.cache}
        return ",".join(f"{name}:{'x'.join(str(d) for d in dims[name])}" for name in input_names)

    half = positions // 2
    return {
        "trt_profile_min_shapes": shapes(0, 1, 1),
        "trt_profile_opt_shapes": shapes(half, 1, half + 1),
        "trt_profile_max_shapes": shapes(positions - 1, positions, positions),
    }
