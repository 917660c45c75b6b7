"""Labelled texts for classifier heads: a TSV with a header, `text`, the label column and `split`
(train or test). Every problem of it is reported at once, by line."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from tritonkit.errors import InputError
from tritonkit.inputs import MAX_TEXT_BYTES, excerpt, listed, read_text

SPLITS = ("train", "test")
MAX_CLASSES = 1000
_MAX_SHOWN = 5  # bad lines named per kind of problem


@dataclass(frozen=True)
class LabelledTexts:
    texts: dict[str, list[str]]  # by split
    labels: dict[str, list[str]]
    classes: tuple[str, ...]  # sorted: the order of the probabilities and of labels.txt


def read_labelled(path: Path, label: str) -> LabelledTexts:
    """The train and test rows of the TSV `path`, labelled by its column `label`."""
    what = f"a TSV of labelled texts with a header: text, {label}, split"
    rows = list(csv.reader(io.StringIO(read_text(path, what, MAX_TEXT_BYTES)), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise InputError(f"{path}: empty (expected {what})")
    header = [cell.strip() for cell in rows[0]]
    missing = [column for column in ("text", label, "split") if column not in header]
    if missing:
        raise InputError(f"{path}: the header {excerpt(header)} has no column {', '.join(missing)} (expected {what})")
    at = {column: header.index(column) for column in ("text", label, "split")}
    bad: dict[str, list[int]] = {}
    texts: dict[str, list[str]] = {split: [] for split in SPLITS}
    labels: dict[str, list[str]] = {split: [] for split in SPLITS}
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            bad.setdefault(f"{len(header)} columns expected", []).append(number)
            continue
        text, value, split = (row[at[c]].strip() for c in ("text", label, "split"))
        for problem, wrong in (("an empty text", not text), (f"an empty {label}", not value),
                               ("a split other than train or test", split not in SPLITS)):  # fmt: skip
            if wrong:
                bad.setdefault(problem, []).append(number)
        if text and value and split in SPLITS:
            texts[split].append(text)
            labels[split].append(value)
    problems = [f"{problem} on line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines[:_MAX_SHOWN]))}"
                + (f" and {len(lines) - _MAX_SHOWN} more" if len(lines) > _MAX_SHOWN else "")
                for problem, lines in bad.items()]  # fmt: skip
    classes = tuple(sorted(set(labels["train"])))
    if len(classes) < 2:
        problems.append(f"the train split has {len(classes)} {label} value(s); a classifier needs at least 2")
    if len(classes) > MAX_CLASSES:
        problems.append(f"the train split has {len(classes)} {label} values; at most {MAX_CLASSES}")
    unseen = sorted(set(labels["test"]) - set(classes))
    if unseen:
        problems.append(f"the test split has {label} values the train split lacks: {excerpt(unseen)}")
    if not labels["test"]:
        problems.append("no test rows: the head's accuracy is measured on them")
    if problems:
        raise InputError(f"{path}: not usable labelled texts ({what}):\n" + listed([f"  {p}" for p in problems]))
    return LabelledTexts(texts, labels, classes)
