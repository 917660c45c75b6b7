"""Tuning a target that sends strings to a text model (`<name>_text`, triton.text_model): the
encoder's knobs as for any target, and the tokenizer's padding as one more dimension (a
candidate's `buckets`: () pads each tokenizer batch to its longest text, a set pads each request
to its bucket). A candidate is served as the text model over the candidate's encoder variant, its
tokenizer padding as the candidate says. Profiles and predictions see what the encoder is handed:
the same texts tokenized at their own lengths (tokens_target). The winner is a text model of its
own: `<name>_tuned_<target>` over the encoder `<name>_tuned_<target>_encoder`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.errors import InputError
from tritonkit.serving import Serving
from tritonkit.specs import TargetSpec, TextModelSpec, TextsPayload, TokensPayload
from tritonkit.triton.model_config import ModelConfig, read_config
from tritonkit.triton.repository import CONFIG_FILE
from tritonkit.triton.text_model import TEXT_INPUT, TOKENIZER_FOLDER, ensemble_config, write_text_model


def encoder_name(tuned: str) -> str:
    """The encoder a tuned text model `tuned` runs."""
    return f"{tuned}_encoder"


@dataclass(frozen=True)
class TextTarget:
    """The text model a texts target sends to, as written."""

    model: str  # the ensemble
    ensemble: ModelConfig
    tokenizer: ModelConfig  # its first step
    max_length: int  # where the tokenizer truncates

    @classmethod
    def of(cls, target: TargetSpec, repository: Path) -> TextTarget:
        """The text model of a target that sends strings; an InputError if its model is not one."""
        expected = "a text model (`text_model:` in the recipe, or `tritonkit add-text-model`)"
        ensemble = _config(repository / target.model, f"model '{target.model}'", expected)
        steps = ensemble.ensemble_scheduling.step
        if ensemble.platform != "ensemble" or len(steps) != 2:
            raise InputError(f"model '{target.model}' is not {expected}: a texts target is tuned through one")
        tokenizer = _config(repository / steps[0].model_name, f"its tokenizer '{steps[0].model_name}'", expected)
        inputs = [(tensor.name, tensor.data_type) for tensor in tokenizer.input]
        length = tokenizer.parameters["max_length"].string_value
        if tokenizer.backend != "python" or inputs != [(TEXT_INPUT, mc.TYPE_STRING)] or not length.isdigit():
            raise InputError(f"model '{target.model}': its first step '{tokenizer.name}' is not the tokenizer of "
                             f"{expected}")  # fmt: skip
        return cls(target.model, ensemble, tokenizer, int(length))

    def tokens_target(self, target: TargetSpec, repository: Path) -> TargetSpec:
        """The target as the encoder sees it at one text a tokenizer batch: its texts as token ids
        at their own lengths, truncated where the tokenizer truncates."""
        assert isinstance(target.payload, TextsPayload)
        payload = TokensPayload(
            kind="tokens", tokenizer=repository / self.tokenizer.name / TOKENIZER_FOLDER, texts=target.payload.texts,
            lengths="texts", sequence_length=self.max_length, batch_size=target.payload.batch_size,
            count=target.payload.count,
        )  # fmt: skip
        return target.model_copy(update={"payload": payload})

    def serve(
        self, serving: Serving, written: ModelConfig, max_batch_size: int, buckets: tuple[int, ...] | None
    ) -> str:
        """Serve the text model over the encoder `written` names (loaded already, batching up to
        `max_batch_size`; `written` is its config.pbtxt, whose I/O the ensemble maps), its
        tokenizer padded to `buckets` (None: as written); returns the model to send strings to."""
        tokenizer = self.tokenizer if buckets is None else self.padded(buckets)
        serving.load(tokenizer.name, tokenizer)
        ensemble = ensemble_config(self.model, tokenizer, written)
        # Triton refuses an ensemble that batches more than a model it runs (as loaded, or as written).
        ensemble.max_batch_size = min(ensemble.max_batch_size, max_batch_size)
        serving.load(self.model, ensemble)
        return self.model

    def padded(self, buckets: tuple[int, ...]) -> ModelConfig:
        config = ModelConfig()
        config.CopyFrom(self.tokenizer)
        config.parameters["padding"].string_value = "buckets" if buckets else "longest"
        config.parameters["buckets"].string_value = json.dumps(list(buckets))
        return config

    def restore(self, serving: Serving) -> None:
        """Both models back as written (a running server keeps the last override otherwise)."""
        serving.load(self.tokenizer.name, self.tokenizer)
        serving.load(self.model, self.ensemble)

    def write_winner(self, repository: Path, tuned: str, variant: str, buckets: tuple[int, ...]) -> None:
        """`tuned` over the encoder tune wrote as encoder_name(tuned) (of `variant`), padded as the
        winner was."""
        padding = "buckets" if buckets else "longest"
        spec = TextModelSpec.model_validate(
            {"variant": variant, "padding": padding} | ({"buckets": buckets} if buckets else {})
        )
        write_text_model(repository, tuned, encoder_name(tuned), spec, self.max_length, force=True)


def _config(folder: Path, what: str, expected: str) -> ModelConfig:
    if not (folder / CONFIG_FILE).is_file():
        raise InputError(f"{what} is not in {folder.parent} (no {folder.name}/{CONFIG_FILE}); expected {expected}")
    return read_config(folder / CONFIG_FILE)
