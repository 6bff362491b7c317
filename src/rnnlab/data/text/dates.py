"""The ``dates`` dataset: human-readable dates in several dozen formats -> ISO 8601, generated, seeded.

``rnnlab data make dates`` writes ``<data_root>/dates/{train,val,test,heldout}.tsv`` (source<TAB>target)
and info.json: train/val/test on disjoint sets of days, plus heldout.tsv in two formats never trained on.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path

from rnnlab.data.paths import data_root as resolve_data_root
from rnnlab.data.text.readers import INFO_FILE, write_info, write_pairs

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



def make_dates_dataset(
    data_root: str | Path | None = None,
    seed: int = 0,
    train: int = 40_000,
    force: bool = False,
    progress: bool = True,  # nothing to show (a second or two); every registered maker takes it
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
        "seed": seed,
        "counts": {split: len(pairs) for split, pairs in splits.items()},
        "heldout_formats": list(HELDOUT_FORMATS),
        "formats": len(DATE_FORMATS),
        "generator": DATES_GENERATOR,
    }
    write_info(folder, "dates", info)
    return folder

