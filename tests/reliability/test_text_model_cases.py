"""The text model's bad inputs: `tritonkit add-text-model` (names, the encoder, its tokenizer files,
lengths, buckets, what the repository already holds), a recipe's `text_model`, and the texts and
bucketed tokens payloads of a targets file. Each is refused with exit 2 before anything is written:
neither the tokenizer model nor the ensemble is left behind, and what was there (the encoder, a
model of the same name) is left exactly as it was. Every problem is listed at once.

The encoders are tiny ONNX graphs laid out as the exporter writes them (text_encoder.py): real
enough for the repository writer's validation, built without torch."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from onnx import TensorProto

from tests.reliability.harness import Case, Setup, chain, check, params, snapshot, write_files
from tests.reliability.samples import RECIPE, TOKENS, dumped, recipe_setup
from tests.reliability.test_preflight_cases import case as preflight_case
from tests.reliability.test_preflight_cases import encoder, target
from tests.reliability.test_recipe_cases import PLAIN_FOLDER
from tests.reliability.text_encoder import MAX_LENGTH, SPECIALS, tokenizer, write_encoder
from tritonkit import onnx_builders
from tritonkit.errors import InputError
from tritonkit.inputs import MAX_TEXT_BYTES
from tritonkit.specs import ServingKnobs, TextModelSpec
from tritonkit.triton import model_config, text_model
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.text_model import write_text_model
from tritonkit.triton.validate import validate_path

ADD = ("add-text-model", "enc", "--model-repository", "repo")
NOT_WRITTEN = "text model 'enc_text' over 'enc': not written"
NAME_RULES = "use letters, digits, '_', '-' and '.'"
CONFIG = "repo/enc/config.pbtxt: model 'enc'"
TOKENIZER = "repo/enc/tokenizer"


def enc(**options: object) -> Setup:
    """repo/enc: the tiny encoder and its tokenizer/, as the exporter writes them."""

    def setup(root: Path) -> None:
        write_encoder(root / "repo", **options)  # type: ignore[arg-type]

    return setup


def text_model_of(name: str = "enc_text", **options: object) -> Setup:
    """repo/<name> and repo/<name>_tokenizer over repo/enc, as add-text-model writes them."""

    def setup(root: Path) -> None:
        spec = TextModelSpec.model_validate({"variant": "fp32", **options})
        write_text_model(root / "repo", name, "enc", spec)

    return setup


def mlp_as(name: str) -> Setup:
    """repo/<name>: an ONNX model that is no text model (the MLP, input x)."""

    def setup(root: Path) -> None:
        onnx_file = onnx_builders.mlp(root / ".mlp" / "mlp.onnx")
        write_model(
            root / "repo", model_config.build_config(name, read_signature(onnx_file), ServingKnobs()), onnx_file
        )

    return setup


def renamed_encoder(name: str) -> Setup:
    def setup(root: Path) -> None:
        write_encoder(root / "repo", name)

    return setup


def rewritten_config(old: str, new: str) -> Setup:
    def setup(root: Path) -> None:
        path = root / "repo" / "enc" / "config.pbtxt"
        path.write_text(path.read_text().replace(old, new, 1))

    return setup


def sparse(relative: str, size: int) -> Setup:
    """A file of `size` bytes (zeros) that takes no disk space."""

    def setup(root: Path) -> None:
        with (root / relative).open("wb") as file:
            file.truncate(size)

    return setup


def symlink(relative: str, points_to: str) -> Setup:
    def setup(root: Path) -> None:
        (root / relative).symlink_to(points_to.replace("{tmp}", str(root)))

    return setup


def no_pad_token(root: Path) -> None:
    """A tokenizer.json without [PAD] (nor <pad>), and no pad_token in tokenizer_config.json."""
    tokenizer(specials=[s for s in SPECIALS if s != "[PAD]"]).save(str(root / TOKENIZER / "tokenizer.json"))
    (root / TOKENIZER / "tokenizer_config.json").write_text('{"model_max_length": 64}')


def tokenizer_files(**files: str | bytes) -> Setup:
    return write_files({f"{TOKENIZER}/{name}": content for name, content in files.items()})


def add(case_id: str, argv: tuple[str, ...], fragments: tuple[str, ...], *setups: Setup, readme: str = "") -> Case:
    return Case(f"text-{case_id}", argv, fragments, setup=chain(*setups), readme=readme)


def bad(
    case_id: str, fragments: tuple[str, ...], *setups: Setup, flags: tuple[str, ...] = (), readme: str = ""
) -> Case:
    """add-text-model enc, refused after reading the encoder: `fragments` after its heading."""
    return add(case_id, (*ADD, *flags), (NOT_WRITTEN, *fragments), *setups, readme=readme)


def usage(case_id: str, flags: tuple[str, ...], fragments: tuple[str, ...], readme: str = "") -> Case:
    return add(case_id, (*ADD, *flags), fragments, enc(), readme=readme)


ADD_TEXT_MODEL_CASES = [
    # Names: each one a Triton model name; never the encoder's own.
    add(
        "encoder-path-traversal",
        ("add-text-model", "../repo/enc", "--model-repository", "repo"),
        ("the encoder: model name '../repo/enc' is not allowed", NAME_RULES),
        enc(),
        readme="an encoder named `../repo/enc` (or an absolute path)",
    ),
    add(
        "encoder-absolute-path",
        ("add-text-model", "{tmp}/repo/enc", "--model-repository", "repo"),
        ("the encoder: model name '{tmp}/repo/enc' is not allowed",),
        enc(),
    ),
    usage("name-traversal", ("--name", "../escape"), ("the text model: model name '../escape' is not allowed",)),
    usage(
        "name-every-bad-name-at-once",
        ("--name", "a;b"),
        ("the text model: model name 'a;b' is not allowed", "its tokenizer: model name 'a;b_tokenizer' is not"),
    ),
    usage(
        "name-tokenizer-too-long",
        ("--name", "t" * 250),
        ("its tokenizer: model name", "at most 255 bytes"),
    ),
    usage(
        "name-is-the-encoder",
        ("--name", "enc", "--force"),
        (
            "the text model 'enc' and its tokenizer 'enc_tokenizer' need names of their own: writing them would "
            "replace the encoder 'enc'",
        ),
        readme="`--name` the encoder's own name (with `--force`)",
    ),
    add(
        "tokenizer-name-is-the-encoder",
        ("add-text-model", "foo_tokenizer", "--name", "foo", "--model-repository", "repo", "--force"),
        ("writing them would replace the encoder 'foo_tokenizer'",),
        renamed_encoder("foo_tokenizer"),
        readme="an encoder `foo_tokenizer` with `--name foo --force`: its tokenizer would replace the encoder",
    ),
    # The encoder: a batching model taking token ids, of any length.
    add(
        "encoder-missing",
        ("add-text-model", "nope", "--model-repository", "repo"),
        (
            "text model 'nope_text' over 'nope': not written",
            "repo/nope: not found (expected the encoder",
            "repo/nope/tokenizer/tokenizer.json: not found",
        ),
        enc(),
    ),
    add(
        "encoder-an-ensemble",
        ("add-text-model", "enc_text", "--name", "again", "--model-repository", "repo"),
        ("repo/enc_text/config.pbtxt: model 'enc_text' is an ensemble; expected the encoder variant it runs",),
        enc(),
        text_model_of(),
        readme="an encoder that is an ensemble (e.g. a text model) or a Python model",
    ),
    add(
        "encoder-a-python-model",
        ("add-text-model", "enc_text_tokenizer", "--name", "again", "--model-repository", "repo"),
        ("model 'enc_text_tokenizer' is a Python model; expected an encoder variant the exporter wrote",),
        enc(),
        text_model_of(),
    ),
    add(
        "encoder-other-inputs",
        ("add-text-model", "mlp", "--model-repository", "repo"),
        ("repo/mlp/config.pbtxt: model 'mlp' takes ['x']; expected input_ids, attention_mask (and token_type_ids)",),
        mlp_as("mlp"),
        write_files({"repo/mlp/tokenizer/tokenizer.json": tokenizer().to_str()}),
        readme="an encoder that does not take `input_ids` and `attention_mask` (or takes more)",
    ),
    bad(
        "encoder-without-batching",
        (f"{CONFIG} does not batch (max_batch_size 0): a text model exists to batch texts",),
        enc(max_batch_size=0),
        readme="an encoder with `max_batch_size: 0`",
    ),
    bad(
        "encoder-float-ids",
        (
            f"{CONFIG} input 'input_ids' is TYPE_FP32; expected TYPE_INT64 or TYPE_INT32 (token ids)",
            f"{CONFIG} input 'attention_mask' is TYPE_FP32",
        ),
        enc(elem_type=TensorProto.FLOAT),
    ),
    bad(
        "encoder-fixed-length",
        (
            f"{CONFIG} input 'input_ids' takes exactly 16 tokens (dims [16]); pad every text to them: padding "
            "buckets, buckets [16], max_length 16",
        ),
        enc(sequence=16),
        readme="an encoder of fixed sequence length, without buckets of exactly that length",
    ),
    bad(
        "encoder-triton-would-refuse",
        (
            "the encoder: repo/enc/config.pbtxt: input[0] 'input_ids'.data_type = TYPE_INT32: expected TYPE_INT64, the "
            "graph's type",
        ),
        enc(),
        rewritten_config("TYPE_INT64", "TYPE_INT32"),
    ),
    bad(
        "encoder-config-not-utf8",
        ("repo/enc/config.pbtxt: not UTF-8 text (byte 0xff",),
        enc(),
        write_files({"repo/enc/config.pbtxt": b'name: "enc"\n\xff\n'}),
    ),
    bad(
        "encoder-config-huge",
        ("repo/enc/config.pbtxt: larger than 1048576 bytes",),
        enc(),
        sparse("repo/enc/config.pbtxt", 2 << 20),
    ),
    # Its tokenizer files: a tokenizer.json the library reads, the pad token, no links out.
    bad(
        "tokenizer-json-missing",
        (f"{TOKENIZER}/tokenizer.json: not found (expected the tokenizer.json the exporter writes beside",),
        enc(),
        lambda root: (root / TOKENIZER / "tokenizer.json").unlink(),
    ),
    bad(
        "tokenizer-json-corrupt",
        (f"{TOKENIZER}/tokenizer.json: not a tokenizer.json the tokenizers library reads",),
        enc(),
        tokenizer_files(**{"tokenizer.json": '{"version": "1.0", "model": {"type": "WordPiece"'}),
        readme="a tokenizer.json that is corrupt",
    ),
    bad(
        "tokenizer-json-huge",
        (f"{TOKENIZER}/tokenizer.json: larger than {MAX_TEXT_BYTES} bytes",),
        enc(),
        sparse(f"{TOKENIZER}/tokenizer.json", MAX_TEXT_BYTES + 1),
        readme="a tokenizer.json over 64 MiB",
    ),
    bad(
        "tokenizer-json-a-directory",
        (f"{TOKENIZER}/tokenizer.json: a directory",),
        enc(),
        lambda root: (root / TOKENIZER / "tokenizer.json").unlink(),
        lambda root: (root / TOKENIZER / "tokenizer.json").mkdir(),
    ),
    bad(
        "tokenizer-config-corrupt",
        (f"{TOKENIZER}/tokenizer_config.json: not JSON (Expecting value at line 1, column 15)",),
        enc(),
        tokenizer_files(**{"tokenizer_config.json": '{"pad_token": '}),
        readme="a tokenizer_config.json that is not JSON (where the pad token is looked up)",
    ),
    bad(
        "tokenizer-config-a-list",
        (f"{TOKENIZER}/tokenizer_config.json: a JSON list; expected an object of tokenizer settings",),
        enc(),
        tokenizer_files(**{"tokenizer_config.json": "[1, 2]"}),
    ),
    bad(
        "tokenizer-config-pad-token-a-number",
        (f"{TOKENIZER}/tokenizer_config.json: pad_token is 5; expected a token (a string)",),
        enc(),
        tokenizer_files(**{"tokenizer_config.json": '{"pad_token": 5}'}),
    ),
    bad(
        "tokenizer-config-pad-token-unknown",
        (f"{TOKENIZER}/tokenizer_config.json: pad_token '<pad>' is not a token of {TOKENIZER}/tokenizer.json",),
        enc(),
        tokenizer_files(**{"tokenizer_config.json": '{"pad_token": "<pad>"}'}),
        readme="a `pad_token` the tokenizer does not have",
    ),
    bad(
        "tokenizer-without-a-pad-token",
        (
            f"{TOKENIZER}: no pad token: tokenizer_config.json names none (pad_token), and tokenizer.json has no "
            "padding setting and no [PAD] or <pad> token",
        ),
        enc(),
        no_pad_token,
    ),
    bad(
        "tokenizer-link-out-of-the-repository",
        (
            "<symlink> = {tmp}/secrets.txt: expected a target inside the repository",
            f"the encoder: {TOKENIZER}/secrets.txt: <symlink>",
        ),
        enc(),
        write_files({"secrets.txt": "not for the repository"}),
        symlink(f"{TOKENIZER}/secrets.txt", "{tmp}/secrets.txt"),
        readme="a symbolic link out of the repository in the encoder's tokenizer/",
    ),
    # Lengths.
    bad(
        "max-length-beyond-the-positions",
        (
            f"max_length 128 is more than the encoder's {MAX_LENGTH} positions (model_max_length in "
            f"{TOKENIZER}/tokenizer_config.json): longer texts would fail in the encoder; at most {MAX_LENGTH}",
        ),
        enc(),
        flags=("--max-length", "128"),
        readme="`--max-length` beyond the encoder's positions (`model_max_length`)",
    ),
    bad(
        "max-length-only-special-tokens",
        ("max_length 2 leaves no room for text: the tokenizer adds 2 special tokens to every text",),
        enc(),
        flags=("--max-length", "2"),
    ),
    bad(
        "buckets-beyond-max-length",
        ("buckets [128] are longer than max_length 64, where texts are truncated",),
        enc(),
        flags=("--buckets", "16,128"),
    ),
    usage(
        "max-length-beyond-65536",
        ("--max-length", "70000"),
        ("argument --max-length: expected a whole number 1-65536, got 70000",),
    ),
    usage("max-length-zero", ("--max-length", "0"), ("argument --max-length: expected a whole number 1-65536, got 0",)),
    usage("max-length-a-word", ("--max-length", "long"), ("argument --max-length: expected a whole number",)),
    usage(
        "buckets-zero",
        ("--buckets", "0,16"),
        ("argument --buckets: expected a whole number 1-65536, got 0",),
    ),
    usage("buckets-negative", ("--buckets", "-8"), ("argument --buckets: expected a whole number 1-65536, got -8",)),
    usage("buckets-huge", ("--buckets", "16,99999999999"), ("argument --buckets: expected a whole number 1-65536",)),
    usage(
        "buckets-not-numbers",
        ("--buckets", "16,32,x"),
        ("argument --buckets: expected a whole number 1-65536, got 'x'",),
    ),
    usage(
        "buckets-fraction", ("--buckets", "16.5"), ("argument --buckets: expected a whole number 1-65536, got '16.5'",)
    ),
    usage("buckets-empty", ("--buckets", ","), ("argument --buckets: expected comma-separated lengths, got ','",)),
    usage(
        "buckets-twice",
        ("--buckets", "16,32,16"),
        ("argument --buckets: length(s) given twice: 16; give each once",),
        readme="`--buckets 16,32,16`",
    ),
    usage(
        "buckets-too-many",
        ("--buckets", ",".join(map(str, range(1, 41)))),
        ("argument --buckets: expected at most 32 lengths, got 40",),
    ),
    usage(
        "buckets-with-padding-longest",
        ("--padding", "longest", "--buckets", "16"),
        ("--buckets pads to fixed lengths; --padding longest pads to the longest text of each batch instead",),
    ),
    usage("padding-unknown", ("--padding", "left"), ("argument --padding: invalid choice: 'left'",)),
    # What the repository holds already.
    add(
        "exists-without-force",
        ADD,
        (
            NOT_WRITTEN,
            "repo/enc_text already exists; pass --force to replace the text model and its tokenizer",
            "repo/enc_text_tokenizer already exists; pass --force",
        ),
        enc(),
        text_model_of(),
        readme="a text model that exists, without `--force`",
    ),
    add(
        "ensemble-name-taken-without-force",
        ADD,
        (NOT_WRITTEN, "repo/enc_text already exists; pass --force"),
        enc(),
        mlp_as("enc_text"),
    ),
    add(
        "force-onto-another-model",
        (*ADD, "--force"),
        (
            NOT_WRITTEN,
            "repo/enc_text: model 'enc_text' (onnxruntime_onnx, inputs ['x']) is not a text model's "
            "ensemble; --force replaces only a text model and its tokenizer: choose another name",
        ),
        enc(),
        mlp_as("enc_text"),
        readme="`--force` onto a model that is not a text model (an encoder, another ensemble)",
    ),
    add(
        "force-onto-the-tokenizer-of-another",
        ("add-text-model", "enc", "--name", "enc_text_tokenizer", "--model-repository", "repo", "--force"),
        (
            "repo/enc_text_tokenizer: model 'enc_text_tokenizer' (python, inputs ['TEXT']) is not a text model's "
            "ensemble",
        ),
        enc(),
        text_model_of(),
    ),
    add(
        "tokenizer-name-a-directory-of-other-things",
        (*ADD, "--force"),
        (NOT_WRITTEN, "repo/enc_text_tokenizer exists and is not a model directory (no config.pbtxt)"),
        enc(),
        write_files({"repo/enc_text_tokenizer/notes.txt": "mine"}),
    ),
    add(
        "ensemble-name-a-symbolic-link",
        (*ADD, "--force"),
        (NOT_WRITTEN, "repo/enc_text is a symbolic link; tritonkit writes only real model directories"),
        enc(),
        symlink("repo/enc_text", "{tmp}/repo/enc"),
    ),
    add(
        "every-problem-at-once",
        (*ADD, "--max-length", "128"),
        (
            NOT_WRITTEN,
            f"{CONFIG} does not batch (max_batch_size 0)",
            f"{TOKENIZER}/tokenizer.json: not a tokenizer.json the tokenizers library reads",
            f"{TOKENIZER}/tokenizer_config.json: not JSON",
            "repo/enc_text exists and is not a model directory",
        ),
        enc(max_batch_size=0),
        tokenizer_files(**{"tokenizer.json": "{", "tokenizer_config.json": "{"}),
        write_files({"repo/enc_text/notes.txt": "mine"}),
        readme="an unfit encoder, corrupt tokenizer files and a taken name: every problem listed at once",
    ),
    add(
        "repository-a-file",
        ("add-text-model", "enc", "--model-repository", "repo.txt"),
        ("argument --model-repository: repo.txt exists and is not a directory",),
        write_files({"repo.txt": "a file"}),
    ),
]

TEXT_MODEL_RECIPE = {**RECIPE, "task": "feature-extraction"}


def recipe(case_id: str, text_model: object, fragments: tuple[str, ...], readme: str = "", **top: object) -> Case:
    setup = recipe_setup(dumped({**TEXT_MODEL_RECIPE, "text_model": text_model, **top}), **PLAIN_FOLDER)
    return Case(f"recipe-text-model-{case_id}", ("export", "recipe.yaml"), fragments, setup=setup, readme=readme)


RECIPE_CASES = [
    recipe(
        "bucket-zero",
        {"variant": "fp32", "buckets": [0, 16]},
        ("text_model.buckets.0: Input should be greater than 0 (got 0)",),
        readme="`text_model: {buckets: [0, 16]}`",
    ),
    recipe(
        "buckets-descending",
        {"variant": "fp32", "buckets": [32, 16]},
        ("text_model.buckets: Value error, bucket lengths go from shortest to longest, each once (got [32, 16])",),
    ),
    recipe(
        "buckets-twice",
        {"variant": "fp32", "buckets": [16, 16]},
        ("text_model.buckets: Value error, bucket lengths go from shortest to longest, each once",),
    ),
    recipe(
        "buckets-too-many",
        {"variant": "fp32", "buckets": list(range(1, 40))},
        ("text_model.buckets: Tuple should have at most 32 items after validation, not 39",),
    ),
    recipe(
        "buckets-a-word",
        {"variant": "fp32", "buckets": ["long"]},
        ("text_model.buckets.0: Input should be a valid integer",),
    ),
    recipe(
        "buckets-beyond-max-sequence-length",
        {"variant": "fp32", "buckets": [16, 256]},
        ("recipe mini:", "text_model.buckets [256]: longer than max_sequence_length 128, where texts are truncated"),
        readme="`text_model.buckets` longer than `max_sequence_length`",
    ),
    recipe(
        "variant-not-exported",
        {"variant": "int8_dynamic"},
        ("recipe mini:", "text_model.variant int8_dynamic is not among the variants exported (fp32)"),
        readme="`text_model.variant` that the recipe does not export",
    ),
    recipe(
        "on-an-image-task",
        {"variant": "fp32"},
        ("recipe mini:", "text_model: strings go into a text encoder; image-classification is not one"),
        task="image-classification",
    ),
    recipe(
        "padding-unknown",
        {"variant": "fp32", "padding": "left"},
        ("text_model.padding: Input should be 'longest' or 'buckets' (got 'left')",),
    ),
    recipe("unknown-key", {"variant": "fp32", "bucket": [16]}, ("text_model.bucket: Extra inputs are not permitted",)),
    recipe("not-a-mapping", "fp32", ("text_model: Input should be a valid dictionary",)),
]

TEXTS = {"kind": "texts", "texts": "texts.txt"}


def invalid(case_id: str, payload: dict[str, object], fragment: str, readme: str = "") -> Case:
    """A payload the targets file's own validation refuses, beside a token model."""
    setup = preflight_case(case_id, [target("bert", payload)], (), encoder).setup
    return Case(f"payload-{case_id}", ("check", "targets.yaml"), ("targets.yaml", fragment), setup=setup, readme=readme)


BUCKETED = {**TOKENS, "lengths": "buckets"}

PAYLOAD_CASES = [
    preflight_case(
        "texts-on-a-token-model",
        [target("bert", TEXTS)],
        (
            "target 't': model 'bert' takes 'input_ids' int64 [-1], 'attention_mask' int64 [-1]; a texts payload "
            "fills one string input [1] (a <name>_text model: tritonkit add-text-model)",
        ),
        encoder,
        readme="a texts payload on a model that takes token ids, not strings",
    ),
    preflight_case(
        "texts-every-problem-at-once",
        [target("bert", {**TEXTS, "batch_size": 9, "texts": "nope.txt"})],
        (
            "nope.txt: not found (expected UTF-8 text, one sentence a line)",
            "target 't': payload batch_size 9 exceeds model 'bert' max_batch_size 8",
            "target 't': model 'bert' takes 'input_ids' int64 [-1]",
        ),
        encoder,
    ),
    invalid(
        "texts-with-a-tokenizer",
        {**TEXTS, "tokenizer": "tokenizer"},
        "targets.0.payload.texts.tokenizer: Extra inputs are not permitted",
    ),
    invalid(
        "token-buckets-beyond-the-sequence-length",
        {**BUCKETED, "buckets": [16, 256]},
        "targets.0.payload.tokens: Value error, buckets [256] are longer than sequence_length 128",
        readme="a tokens payload's `buckets` longer than its `sequence_length`",
    ),
    invalid(
        "token-buckets-descending",
        {**BUCKETED, "buckets": [32, 16]},
        "targets.0.payload.tokens.buckets: Value error, bucket lengths go from shortest to longest, each once",
    ),
    invalid(
        "token-buckets-zero",
        {**BUCKETED, "buckets": [0]},
        "targets.0.payload.tokens.buckets.0: Input should be greater than 0 (got 0)",
    ),
]

CASES = [*ADD_TEXT_MODEL_CASES, *RECIPE_CASES, *PAYLOAD_CASES]


@pytest.mark.parametrize("case", params(CASES))
def test_text_model_input_refused(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


def test_the_encoder_named_as_tokenizer_is_kept_whole_with_force(tmp_path: Path) -> None:
    """The data-loss case: `--name foo --force` over the encoder `foo_tokenizer` once replaced the
    encoder with the tokenizer, then failed on the ensemble."""
    write_encoder(tmp_path / "repo", "foo_tokenizer")
    before = snapshot(tmp_path / "repo")
    with pytest.raises(InputError, match="writing them would replace the encoder 'foo_tokenizer'"):
        write_text_model(tmp_path / "repo", "foo", "foo_tokenizer", TextModelSpec(variant="fp32"), force=True)
    assert snapshot(tmp_path / "repo") == before


# -- the pair is written whole or not at all ------------------------------------------------------


def _failing_ensemble(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """The ensemble's write fails after the tokenizer's succeeded (a full disk, Ctrl-C)."""
    real = text_model.write_model

    def write(repository: Path, config: ModelConfig, *args: object, **kwargs: object) -> Path:
        if config.platform == "ensemble":
            raise error
        return real(repository, config, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(text_model, "write_model", write)


@pytest.mark.parametrize("error", [InputError("the disk is full"), KeyboardInterrupt()], ids=["error", "interrupt"])
def test_a_failed_ensemble_write_takes_the_new_tokenizer_back_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    repository = write_encoder(tmp_path / "repo").parent
    before = snapshot(tmp_path)
    _failing_ensemble(monkeypatch, error)
    with pytest.raises(type(error)):
        write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32"))
    assert snapshot(tmp_path) == before  # no tokenizer, no staging folder, not even a new timestamp
    assert sorted(os.listdir(repository)) == ["enc"]


def test_a_failed_ensemble_write_with_force_puts_the_previous_tokenizer_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repository = write_encoder(tmp_path / "repo").parent
    write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32", padding="longest"))
    previous = {p: (repository / p).read_bytes() for p in ("enc_text_tokenizer/config.pbtxt", "enc_text/config.pbtxt")}
    before = snapshot(tmp_path)
    _failing_ensemble(monkeypatch, InputError("the disk is full"))
    with pytest.raises(InputError, match="the disk is full"):
        write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32", buckets=(8, 16)), force=True)
    assert snapshot(tmp_path) == before
    assert {p: (repository / p).read_bytes() for p in previous} == previous
    assert validate_path(repository) == []


# -- what add-text-model writes, where the encoder is not quite the exporter's -----------------------


def _tokenizer_config(repository: Path) -> ModelConfig:
    return model_config.read_config(repository / "enc_text_tokenizer" / "config.pbtxt")


def test_the_default_lengths_stop_at_the_encoders_positions(tmp_path: Path) -> None:
    repository = write_encoder(tmp_path / "repo").parent  # model_max_length 64
    text = write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32"))
    assert (text.max_length, text.buckets) == (MAX_LENGTH, (16, 32, MAX_LENGTH))
    assert validate_path(repository) == []


def test_an_int32_encoder_gets_int32_token_ids(tmp_path: Path) -> None:
    repository = write_encoder(tmp_path / "repo", elem_type=TensorProto.INT32, token_types=True).parent
    write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32"))
    outputs = {o.name: (o.data_type, list(o.dims)) for o in _tokenizer_config(repository).output}
    int32 = model_config.mc.TYPE_INT32
    assert outputs == {name: (int32, [-1]) for name in ("input_ids", "attention_mask", "token_type_ids")}
    assert validate_path(repository) == []


def test_a_fixed_length_encoder_takes_one_bucket_of_its_length(tmp_path: Path) -> None:
    repository = write_encoder(tmp_path / "repo", sequence=16).parent
    text = write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32", buckets=(16,)), 16)
    assert text.buckets == (16,)
    assert [list(o.dims) for o in _tokenizer_config(repository).output] == [[16], [16]]
    assert validate_path(repository) == []


def test_without_tokenizer_config_the_pad_token_is_the_tokenizers_own(tmp_path: Path) -> None:
    repository = write_encoder(tmp_path / "repo", settings={}).parent  # no tokenizer_config.json
    text = write_text_model(repository, "enc_text", "enc", TextModelSpec(variant="fp32"))
    assert text.max_length == 128  # no model_max_length to stop at
    assert _tokenizer_config(repository).parameters["pad_id"].string_value == "0"  # [PAD]
