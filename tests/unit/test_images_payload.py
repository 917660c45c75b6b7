"""The images payload: real photographs (scikit-image's, or a folder of the user's) through a real
(tiny) ViT image processor, into the model's pixel input; and the defaults of the model files the
exporter writes beside a model (tokenizer/, preprocessor/)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from transformers import ViTImageProcessor
from tritonclient.grpc import model_config_pb2 as mc

from tests.unit.test_payloads import config as token_model_config
from tritonkit.errors import InputError
from tritonkit.images import read_rgb, sample_photographs, views
from tritonkit.measure.payloads import (
    MODEL_ASSET_FOLDERS,
    build_pool,
    payload_file_problems,
    with_model_files,
)
from tritonkit.specs import ImagesPayload, RandomPayload, TokensPayload
from tritonkit.triton.model_config import ModelConfig

SIZE = 32
PIXELS = (("pixel_values", mc.TYPE_FP32, [3, SIZE, SIZE]),)


@pytest.fixture(scope="module")
def processor() -> ViTImageProcessor:
    return ViTImageProcessor(size={"height": SIZE, "width": SIZE})


@pytest.fixture(scope="module")
def processor_dir(tmp_path_factory: pytest.TempPathFactory, processor: ViTImageProcessor) -> Path:
    folder = tmp_path_factory.mktemp("preprocessor")
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two PNGs of different sizes and content, as a user's folder holds."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for name, (height, width) in {"a.png": (48, 64), "b.png": (70, 40)}.items():
        gradient = np.linspace(0, 255, width, dtype=np.float32)[None, :, None] * np.ones((height, 1, 3))
        noise = rng.integers(0, 60, (height, width, 3))
        Image.fromarray(np.clip(gradient + noise, 0, 255).astype(np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not a photograph: skipped by its suffix\n")
    return folder


def config(
    inputs: Sequence[tuple[str, int, Sequence[int]]] = PIXELS, max_batch_size: int = 8, name: str = "vit"
) -> ModelConfig:
    return token_model_config(inputs, max_batch_size, name)  # the payload reads only the inputs


def images(processor_dir: Path | None, folder: Path | None = None, **fields: object) -> ImagesPayload:
    return ImagesPayload.model_validate({"kind": "images", "processor": processor_dir, "images": folder} | fields)


def processed_views(processor: ViTImageProcessor, folder: Path) -> list[np.ndarray]:
    """What the processor itself makes of every view of every photograph in `folder`."""
    return [
        processor(images=view, return_tensors="np")["pixel_values"][0]
        for path in sorted(folder.glob("*.png"))
        for view in views(read_rgb(path))
    ]


def matching_view(array: np.ndarray, expected: list[np.ndarray]) -> int:
    found = [i for i, view in enumerate(expected) if np.array_equal(array, view)]
    assert len(found) == 1, f"{len(found)} views match"
    return found[0]


# -- the pool ------------------------------------------------------------------------------------


def test_requests_are_batches_of_the_processors_own_pixel_values(
    processor: ViTImageProcessor, processor_dir: Path, photos: Path
) -> None:
    pool = build_pool(images(processor_dir, photos, batch_size=4, count=20), config(), seed=0)
    assert len(pool) == 20 and pool.inferences_per_request == 4
    assert pool.description.startswith(f"images: {photos.name} (2 photographs, ")
    assert pool.description.endswith(f"{SIZE}x{SIZE}, batch 4")
    expected = processed_views(processor, photos)
    assert len(expected) == 12  # six views of each photograph
    drawn = set()
    for payload in pool.payloads:
        assert list(payload) == ["pixel_values"]
        array = payload["pixel_values"]
        assert array.shape == (4, 3, SIZE, SIZE) and array.dtype == np.float32
        drawn |= {matching_view(row, expected) for row in array}
    assert len(drawn) > 6  # views of both photographs, not one view repeated


def test_the_same_seed_gives_the_same_requests(processor_dir: Path, photos: Path) -> None:
    def arrays(seed: int) -> list[np.ndarray]:
        spec = images(processor_dir, photos, batch_size=2, count=8)
        return [p["pixel_values"] for p in build_pool(spec, config(), seed).payloads]

    first, again, other = arrays(5), arrays(5), arrays(6)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_without_a_folder_the_photographs_are_scikit_images_samples(processor_dir: Path) -> None:
    pool = build_pool(images(processor_dir, count=30), config(), seed=0)
    assert pool.description.startswith(f"images: scikit-image samples ({len(sample_photographs())} photographs, ")
    assert len(sample_photographs()) >= 5
    assert all(p["pixel_values"].shape == (1, 3, SIZE, SIZE) for p in pool.payloads)
    assert len({p["pixel_values"].tobytes() for p in pool.payloads}) > 10  # distinct real views


def test_a_model_that_does_not_batch_gets_one_image(
    processor: ViTImageProcessor, processor_dir: Path, photos: Path
) -> None:
    expected = processed_views(processor, photos)
    for dims, shape in (([3, SIZE, SIZE], (3, SIZE, SIZE)), ([1, 3, SIZE, SIZE], (1, 3, SIZE, SIZE))):
        model = config([("pixel_values", mc.TYPE_FP32, dims)], max_batch_size=0)
        pool = build_pool(images(processor_dir, photos, count=5), model, seed=0)
        assert pool.inferences_per_request == 1
        for payload in pool.payloads:
            assert payload["pixel_values"].shape == shape
            matching_view(payload["pixel_values"].reshape(3, SIZE, SIZE), expected)


def test_a_half_precision_model_gets_half_precision_pixels(processor_dir: Path, photos: Path) -> None:
    pool = build_pool(images(processor_dir, photos, count=2), config([("x", mc.TYPE_FP16, [3, -1, -1])]), seed=0)
    assert {(p["x"].dtype, p["x"].shape) for p in pool.payloads} == {(np.dtype(np.float16), (1, 3, SIZE, SIZE))}


@pytest.mark.parametrize(
    ("inputs", "taken"),
    [
        (
            (("input_ids", mc.TYPE_INT64, [-1]), ("attention_mask", mc.TYPE_INT64, [-1])),
            "'input_ids' int64 [-1], 'attention_mask' int64 [-1]",
        ),
        ((("pixel_values", mc.TYPE_INT64, [3, SIZE, SIZE]),), "'pixel_values' int64 [3, 32, 32]"),
        ((("x", mc.TYPE_FP32, [16]),), "'x' float32 [16]"),
        ((*PIXELS, ("mask", mc.TYPE_FP32, [SIZE, SIZE])), "'pixel_values' float32 [3, 32, 32], 'mask'"),
    ],
)
def test_a_model_without_one_image_input_is_refused(
    processor_dir: Path, inputs: Sequence[tuple[str, int, Sequence[int]]], taken: str
) -> None:
    with pytest.raises(InputError, match="images payload fills one float input") as raised:
        build_pool(images(processor_dir), config(inputs, name="minilm"), seed=0)
    assert str(raised.value).startswith(f"model 'minilm' takes {taken}")


def test_a_processor_that_does_not_fit_the_model_is_refused(processor_dir: Path, photos: Path) -> None:
    model = config([("pixel_values", mc.TYPE_FP32, [3, 224, 224])])
    with pytest.raises(InputError, match=r"makes pixel values of shape \[3, 32, 32\]; model 'vit' input") as raised:
        build_pool(images(processor_dir, photos), model, seed=0)
    assert "takes [3, 224, 224]" in str(raised.value)


def test_refusals_before_anything_is_preprocessed(processor_dir: Path, photos: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="batch_size 9 exceeds model 'vit' max_batch_size 8"):
        build_pool(images(processor_dir, photos, batch_size=9), config(), seed=0)
    with pytest.raises(InputError, match="model 'vit' does not batch"):
        build_pool(images(processor_dir, photos, batch_size=2), config(max_batch_size=0), seed=0)
    with pytest.raises(InputError, match="needs `processor:`"):
        build_pool(images(None, photos), config(), seed=0)
    with pytest.raises(InputError, match=r"no preprocessor_config\.json"):
        build_pool(images(tmp_path, photos), config(), seed=0)
    (tmp_path / "preprocessor_config.json").write_text('{"image_processor_type": "NoSuchProcessor"}')
    with pytest.raises(InputError, match="not an image processor transformers can load"):
        build_pool(images(tmp_path, photos), config(), seed=0)


def test_a_pool_too_large_for_memory_is_refused(tmp_path: Path, photos: Path) -> None:
    ViTImageProcessor().save_pretrained(tmp_path)  # 224 x 224: 10,000 requests of 8 are 48 GB
    model = config([("pixel_values", mc.TYPE_FP32, [3, 224, 224])])
    with pytest.raises(InputError, match="10000 requests of 4816896 bytes"):
        build_pool(images(tmp_path, photos, batch_size=8, count=10_000), model, seed=0)


def test_an_unreadable_photograph_is_named(processor_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_text("not a jpeg")
    with pytest.raises(InputError, match=r"broken.jpg: not an image Pillow can read"):
        build_pool(images(processor_dir, tmp_path), config(), seed=0)


# -- before a server starts ----------------------------------------------------------------------


def test_payload_file_problems_lists_every_image_problem(processor_dir: Path, photos: Path, tmp_path: Path) -> None:
    assert payload_file_problems(images(processor_dir, photos)) == []
    assert payload_file_problems(images(processor_dir)) == []
    (tmp_path / "no-config").mkdir()
    (tmp_path / "spoiled").mkdir()
    for name in ("a.jpg", "b.png"):
        (tmp_path / "spoiled" / name).write_bytes(b"\x00" * 64)
    Image.new("RGB", (8, 8)).save(tmp_path / "spoiled" / "good.png")
    found = payload_file_problems(images(tmp_path / "no-config", tmp_path / "spoiled"))
    assert [p.split(": ", 1)[1] for p in found] == [
        "no preprocessor_config.json (the exporter writes one into <model>/preprocessor/)",
        "not an image Pillow can read (UnidentifiedImageError)",
        "not an image Pillow can read (UnidentifiedImageError)",
    ]
    (tmp_path / "empty").mkdir()
    (tmp_path / "list" / "preprocessor_config.json").parent.mkdir()
    (tmp_path / "list" / "preprocessor_config.json").write_text("[1, 2]")
    found = payload_file_problems(images(tmp_path / "list", tmp_path / "empty"))
    assert [p.split(": ", 1)[1] for p in found] == [
        "a JSON list; expected an object of image processor settings",
        "no .jpg/.jpeg/.png files",
    ]
    found = payload_file_problems(images(tmp_path / "absent", tmp_path / "gone"))
    assert [p.split(": ", 1)[1][:9] for p in found] == ["not found", "not found"]


# -- the model files' defaults --------------------------------------------------------------------


def test_model_files_default_to_the_folders_the_exporter_writes(tmp_path: Path) -> None:
    assert MODEL_ASSET_FOLDERS == ("tokenizer", "preprocessor")
    model = tmp_path / "m"
    tokens = TokensPayload(kind="tokens", texts=Path("t.txt"))
    filled = with_model_files(tokens, model)
    assert isinstance(filled, TokensPayload) and filled.tokenizer == model / "tokenizer"
    filled_images = with_model_files(ImagesPayload(kind="images"), model)
    assert isinstance(filled_images, ImagesPayload) and filled_images.processor == model / "preprocessor"
    given = ImagesPayload(kind="images", processor=Path("mine"))
    assert with_model_files(given, model) == given
    assert with_model_files(given, None) == given  # given: nothing to find in a repository
    assert with_model_files(RandomPayload(kind="random"), None) == RandomPayload(kind="random")
    with pytest.raises(InputError, match="the tokens payload needs `tokenizer:` on a running server"):
        with_model_files(tokens, None)
    with pytest.raises(InputError, match="the images payload needs `processor:` on a running server"):
        with_model_files(ImagesPayload(kind="images"), None)
