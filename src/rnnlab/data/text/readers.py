"""Readers of the sequence-task data: labelled texts, tagged sentences, source/target pairs.

Each reader takes a path; each error names the file and line, as one sentence.

* `read_labeled`  CSV / TSV (with a header row) or JSON Lines: a text column and a label column,
  named by the caller (`--text-column`, `--label-column`);
* `read_tagged`   one sentence per line of ``word/TAG`` tokens (the tag after the last slash), or
  CoNLL-style columns (one token per line, blank lines between sentences, ``#`` comments);
* `read_pairs`    TSV of ``source<TAB>target`` lines (no header).

`write_labeled` and `write_pairs` write what `read_labeled` and `read_pairs` read.

**A task dataset folder** (``--data DIR``, or ``--data NAME`` for ``<data_root>/NAME`` made by
``rnnlab data fetch|make NAME``; the names are in `rnnlab.data.registry`) holds ``train.*``, ``val.*``,
``test.*`` (and for dates ``heldout.*``) plus ``info.json``, written last by `write_info`: a folder
without it is unfinished and is made again.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Sequence
from pathlib import Path

from rnnlab.data import registry
from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.publish import write_text_atomic
from rnnlab.errors import UserError

INFO_FILE = "info.json"
SPLITS = ("train", "val", "test", "heldout")
#: the --data NAME tasks this module resolves (the datasets of `rnnlab.data.registry` for them)
TASKS = ("classify", "tag", "seq2seq")

# ----- small helpers -----------------------------------------------------------------------------


def _read_text(path: Path, encoding: str = "utf-8") -> str:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist or is not a file; check the --data path.")
    try:
        text = path.read_text(encoding=encoding)
    except UnicodeDecodeError as error:
        raise UserError(
            f"{path} is not valid {encoding} (byte offset {error.start}); pass the file's "
            "encoding with --encoding."
        ) from None
    except LookupError:
        raise UserError(f"unknown text encoding {encoding!r}; use e.g. utf-8 or latin-1.") from None
    return text.removeprefix("\ufeff")  # a byte-order mark is not part of the first column's name




def _format_of(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    suffix = Path(path).suffix.lower()
    return {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}.get(
        suffix, "csv"
    )


# ----- labelled texts: CSV / TSV / JSONL ---------------------------------------------------------

LABELED_FORMATS = ("auto", "csv", "tsv", "jsonl")


def read_labeled(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    *,
    fmt: str = "auto",
    encoding: str = "utf-8",
    bad_rows: str = "error",
) -> list[tuple[str, str]]:
    """Read (text, label) examples from a CSV/TSV file with a header row, or from JSON Lines.

    Args:
        fmt: "auto" (by extension: .csv, .tsv/.tab, .jsonl/.json), "csv", "tsv" or "jsonl".
        bad_rows: "error" stops at the first ragged or malformed row (wrong number of fields, missing
            or empty label, empty text) with a one-line `UserError`; "skip" drops such rows, and the
            caller can compare counts to warn.

    Labels are kept as strings (" 1" and "1" are the same label: fields are stripped).
    """
    path = Path(path)
    if fmt not in LABELED_FORMATS:
        raise UserError(f"unknown data format {fmt!r}; use one of {', '.join(LABELED_FORMATS)}.")
    if bad_rows not in ("error", "skip"):
        raise UserError(f"bad_rows must be error or skip (got {bad_rows!r}).")
    text = _read_text(path, encoding)
    fmt = _format_of(path, fmt)
    examples: list[tuple[str, str]] = []

    def bad(line: int, reason: str) -> None:
        if bad_rows == "error":
            raise UserError(f"{path} line {line}: {reason}; fix the row or pass --bad-rows skip.")

    if fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                bad(number, "is not valid JSON")
                continue
            if not isinstance(row, dict):
                bad(number, "is not a JSON object")
                continue
            for column in (text_column, label_column):
                if column not in row and number == 1:
                    raise UserError(
                        f"{path} has no field {column!r} (line 1 has: {', '.join(map(str, row))}); "
                        "name the fields with --text-column and --label-column."
                    )
            _add_example(examples, row.get(text_column), row.get(label_column), number, bad)
        return examples

    delimiter = "\t" if fmt == "tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise UserError(f"{path} is empty; it needs a header row and at least one example.") from None
    except csv.Error as error:
        raise UserError(f"{path} line 1 is not valid {fmt.upper()} ({error}).") from None
    header = [name.strip() for name in header]
    for column in (text_column, label_column):
        if column not in header:
            raise UserError(
                f"{path} has no column {column!r}; its columns are: {', '.join(header)}. "
                "Name them with --text-column and --label-column."
            )
    text_index, label_index = header.index(text_column), header.index(label_column)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            raise UserError(f"{path} line {reader.line_num} is not valid {fmt.upper()} ({error}).") from None
        if not row or all(not field.strip() for field in row):
            continue
        if len(row) != len(header):
            bad(reader.line_num, f"has {len(row)} fields but the header has {len(header)}")
            continue
        _add_example(examples, row[text_index], row[label_index], reader.line_num, bad)
    return examples


def _add_example(examples: list, text, label, line: int, bad) -> None:
    text = "" if text is None else str(text).strip()
    label = "" if label is None else str(label).strip()
    if not label:
        bad(line, "has no label")
    elif not text:
        bad(line, "has an empty text")
    else:
        examples.append((text, label))


# ----- tagged sentences ---------------------------------------------------------------------------

TAGGED_FORMATS = ("auto", "slash", "conll")


def read_tagged(
    path: str | Path,
    *,
    fmt: str = "auto",
    word_column: int = 0,
    tag_column: int = -1,
    encoding: str = "utf-8",
) -> list[tuple[list[str], list[str]]]:
    """Read tagged sentences as (words, tags) pairs.

    Formats:
        slash: one sentence per line, tokens separated by spaces, each ``word/TAG`` (split at the last
            slash, so ``1/2/CD`` is the word ``1/2`` with tag ``CD``);
        conll: one token per line, columns separated by tabs or spaces (`word_column`, `tag_column`,
            counted from 0; negative counts from the end), blank lines between sentences, lines
            starting with ``#`` ignored;
        auto: conll if the file has blank-line-separated multi-line blocks whose lines have 2 or more
            columns and no ``/``-tags, else slash.
    """
    path = Path(path)
    if fmt not in TAGGED_FORMATS:
        raise UserError(f"unknown tagged format {fmt!r}; use one of {', '.join(TAGGED_FORMATS)}.")
    text = _read_text(path, encoding)
    lines = text.splitlines()
    if fmt == "auto":
        first = next((line.split() for line in lines if line.strip() and not line.startswith("#")), [])
        fmt = "slash" if first and all("/" in token for token in first) else "conll"
    sentences: list[tuple[list[str], list[str]]] = []
    if fmt == "slash":
        for number, line in enumerate(lines, 1):
            tokens = line.split()
            if not tokens:
                continue
            words, tags = [], []
            for token in tokens:
                word, slash, tag = token.rpartition("/")
                if not slash or not word or not tag:
                    raise UserError(
                        f"{path} line {number}: the token {token!r} is not word/TAG; every "
                        "token of a slash-format file needs a tag after its last '/'."
                    )
                words.append(word)
                tags.append(tag)
            sentences.append((words, tags))
    else:
        words, tags = [], []
        for number, line in enumerate(lines + [""], 1):
            if line.startswith("#"):
                continue
            columns = line.split("\t") if "\t" in line else line.split()
            if not columns or not line.strip():
                if words:
                    sentences.append((words, tags))
                words, tags = [], []
                continue
            try:
                word, tag = columns[word_column].strip(), columns[tag_column].strip()
            except IndexError:
                raise UserError(
                    f"{path} line {number} has {len(columns)} columns; the word column "
                    f"{word_column} or tag column {tag_column} is missing."
                ) from None
            if not word or not tag:
                raise UserError(f"{path} line {number} has an empty word or tag.")
            words.append(word)
            tags.append(tag)
    if not sentences:
        raise UserError(f"{path} holds no tagged sentences.")
    return sentences


# ----- source/target pairs ------------------------------------------------------------------------


def read_pairs(
    path: str | Path, *, encoding: str = "utf-8", bad_rows: str = "error"
) -> list[tuple[str, str]]:
    """Read ``source<TAB>target`` lines (no header) as (source, target) pairs; blank lines are skipped."""
    path = Path(path)
    pairs = []
    for number, line in enumerate(_read_text(path, encoding).splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        reason = None
        if len(fields) != 2:
            reason = f"has {len(fields)} tab-separated fields, not 2 (source<TAB>target)"
        elif not fields[0].strip() or not fields[1].strip():
            reason = "has an empty source or target"
        if reason:
            if bad_rows == "error":
                raise UserError(f"{path} line {number} {reason}; fix the row or pass --bad-rows skip.")
            continue
        pairs.append((fields[0].strip(), fields[1].strip()))
    if not pairs:
        raise UserError(f"{path} holds no source/target pairs.")
    return pairs


# ----- where the data is: --data FILE | DIR | NAME -----------------------------------------------


def split_examples(examples: Sequence, fractions: Sequence[float], seed: int = 0) -> dict[str, list]:
    """Shuffle (seeded) and cut a list into train/val/test by `fractions` (e.g. 0.8, 0.1, 0.1)."""
    if len(fractions) != 3 or any(f < 0 for f in fractions) or not 0.99 <= sum(fractions) <= 1.01:
        raise UserError(
            f"a split needs three non-negative fractions that sum to 1, like 0.8,0.1,0.1 "
            f"(got {','.join(map(str, fractions))})."
        )
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n_train = int(round(fractions[0] * len(order)))
    n_val = int(round(fractions[1] * len(order)))
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    if not parts["train"] or not parts["val"]:
        raise UserError(
            f"{len(examples)} examples are too few to split {fractions}; give more data or a "
            "folder with train and val files."
        )
    return {name: [examples[i] for i in index] for name, index in parts.items()}


def resolve_task_data(data: str | Path, data_root: str | Path | None = None) -> dict[str, Path]:
    """``--data`` -> {split: file}.

    * a file: ``{"all": file}`` (the caller splits it);
    * a folder: its ``train.*``, ``val.*``, ``test.*``, ``heldout.*`` files (train is required);
    * a name: the folder ``<data_root>/NAME`` made by `rnnlab data fetch NAME` / `rnnlab data make NAME`.
    """
    if not str(data):
        raise UserError("no training data: pass --data FILE|DIR|NAME.")
    given = Path(data).expanduser()
    if given.is_file():
        return {"all": given}
    if not given.is_dir():
        name = str(data)
        folder = resolve_data_root(data_root) / name
        if (folder / INFO_FILE).is_file():
            given = folder
        elif name in registry.names(task=TASKS):
            raise UserError(
                f"the dataset {name!r} is not in {folder.parent} yet; run: {registry.get(name).command}"
            )
        else:
            raise UserError(
                f"no file, folder or dataset named {name!r}; give a data file, a folder with "
                f"train/val/test files, or a dataset name ({', '.join(registry.names(task=TASKS))})."
            )
    files = {}
    for split in SPLITS:
        found = sorted(p for p in given.glob(f"{split}.*") if p.is_file() and not p.name.startswith("."))
        if found:
            files[split] = found[0]
    if "train" not in files:
        raise UserError(
            f"the folder {given} has no train.* file; give a folder with train (and val, test) "
            "files, or a single data file."
        )
    return files



# ----- writing ----------------------------------------------------------------------------------------


def labeled_csv(rows: Sequence[tuple[str, str]]) -> str:
    """(text, label) rows as CSV text with the header text,label."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return out.getvalue()


def write_labeled(path: str | Path, rows: Sequence[tuple[str, str]]) -> None:
    """Write (text, label) rows as a CSV with the header text,label (readable by `read_labeled`)."""
    write_text_atomic(Path(path), labeled_csv(rows))


def write_pairs(path: str | Path, pairs: Sequence[tuple[str, str]]) -> None:
    """Write (source, target) pairs as ``source<TAB>target`` lines (readable by `read_pairs`)."""
    write_text_atomic(Path(path), "".join(f"{source}\t{target}\n" for source, target in pairs))


def write_info(folder: str | Path, name: str, info: dict) -> None:
    """Write a task dataset's info.json, last: it marks the folder as complete."""
    write_text_atomic(Path(folder) / INFO_FILE, json.dumps({"name": name, **info}, indent=1))
