"""Load an export recipe: the YAML validated, its relative paths resolved against the recipe's folder."""

from __future__ import annotations

from pathlib import Path

from tritonkit.errors import InputError
from tritonkit.specs import RecipeSpec, load_yaml


def load_recipe(path: Path) -> RecipeSpec:
    recipe = load_yaml(path, RecipeSpec)
    base = path.parent
    resolved: dict[str, object] = {
        "evaluation_texts": base / recipe.evaluation_texts,
        "calibration_texts": base / recipe.calibration_texts,
    }
    if recipe.source.path is not None:
        resolved["source"] = recipe.source.model_copy(update={"path": base / recipe.source.path})
    if recipe.distillation.text_file is not None:
        resolved["distillation"] = recipe.distillation.model_copy(
            update={"text_file": base / recipe.distillation.text_file}
        )
    recipe = recipe.model_copy(update=resolved)
    for field in ("evaluation_texts", "calibration_texts"):
        if not getattr(recipe, field).is_file():
            raise InputError(f"{path}: {field} = {getattr(recipe, field)}: file not found")
    return recipe


def read_texts(path: Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    texts = [line for line in lines if line]
    if not texts:
        raise InputError(f"{path}: no text lines")
    return texts
