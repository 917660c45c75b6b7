"""Load an export recipe: the YAML validated, its relative paths resolved against the recipe's folder
and kept inside it, and the text files and image folders it names read, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

from tritonkit.errors import InputError
from tritonkit.export.labelled import read_labelled
from tritonkit.images import image_files
from tritonkit.inputs import excerpt, listed, read_lines
from tritonkit.specs import RecipeSpec, load_yaml

_INPUT_FIELDS = ("evaluation_texts", "calibration_texts", "evaluation_images", "calibration_images")


def load_recipe(path: Path) -> RecipeSpec:
    recipe = load_yaml(path, RecipeSpec)
    base = path.parent
    problems: list[str] = []

    def inside(field: str, value: Path) -> Path:
        """`value` resolved against the recipe's folder. A relative path stays inside that folder,
        so a recipe carried with its folder reads only its own files; others are named absolutely."""
        resolved = base / value
        try:
            target = resolved.resolve()
        except (RuntimeError, OSError):  # a symlink loop (Python 3.11 raises RuntimeError)
            problems.append(f"{field} = {excerpt(str(value))}: a symbolic link loop")
            return resolved
        if not value.is_absolute() and not target.is_relative_to(base.resolve()):
            problems.append(
                f"{field} = {excerpt(str(value))}: leaves the recipe's folder {base}; a relative path names "
                "something inside it (name anything else by its absolute path)"
            )
        return resolved

    given = {f: inside(f, value) for f in _INPUT_FIELDS if (value := getattr(recipe, f)) is not None}
    texts = [(f, file) for f, file in given.items() if f.endswith("_texts")]
    resolved: dict[str, object] = dict(given)
    if recipe.source.path is not None:
        resolved["source"] = recipe.source.model_copy(update={"path": inside("source.path", recipe.source.path)})
    if recipe.distillation.text_file is not None:
        text_file = inside("distillation.text_file", recipe.distillation.text_file)
        resolved["distillation"] = recipe.distillation.model_copy(update={"text_file": text_file})
        texts.append(("distillation.text_file", text_file))
    heads = tuple(h.model_copy(update={"data": inside(f"heads.{h.name}.data", h.data)}) for h in recipe.heads)
    if heads:
        resolved["heads"] = heads
    if not problems:  # read only files inside the recipe's folder
        for field, file in texts:
            if not file.exists():
                problems.append(f"{field} = {file}: file not found")
                continue
            try:
                read_lines(file)
            except InputError as exc:
                problems.append(f"{field}: {exc}")
        for head in heads:
            try:
                read_labelled(head.data, head.label or head.name)
            except InputError as exc:
                problems.append(f"heads.{head.name}.data: {exc}")
        for field, folder in given.items():
            if field.endswith("_images"):
                try:
                    image_files(folder)
                except InputError as exc:
                    problems.append(f"{field}: {exc}")
    if problems:
        raise InputError(f"{path}: invalid recipe:\n" + listed([f"  {problem}" for problem in problems]))
    return recipe.model_copy(update=resolved)


def read_texts(path: Path) -> list[str]:
    """Non-empty lines of a UTF-8 text file (the gates' and the distillation's sentences)."""
    return read_lines(path)
