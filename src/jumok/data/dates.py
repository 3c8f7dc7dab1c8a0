"""A seeded generator of human-written English dates paired with ISO ``YYYY-MM-DD``.

Reading rule, so every source has exactly one meaning:

* slash ``/`` means month/day/year (US): ``9/27/94`` is 1994-09-27;
* dot ``.`` means day.month.year (European): ``27.09.1994`` is 1994-09-27;
* dash with the 4-digit year first is ISO: ``1994-09-27``;
* a month written as a word leaves no doubt (``27 Sep 1994``, ``Sep 27, 1994``, ``27-Sep-1994``);
* a weekday, when written, is always the true weekday of the date;
* two-digit years follow the POSIX pivot (C ``strptime %y``): 69-99 are 1969-1999 and
  00-68 are 2000-2068. Formats with a two-digit year only draw dates in 1969..2068;
  four-digit formats draw from 1900..2099.

Each example picks one of `DATE_FORMATS` uniformly, a date uniformly over the year range
of that format, and a letter case uniformly from `CASE_STYLES`. The examples in the
comments below are for Tuesday 1994-09-27.
"""

import datetime
import re

import numpy as np

TWO_DIGIT_YEAR_PIVOT = 69

MONTHS = ("January", "February", "March", "April", "May", "June", "July",
          "August", "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# name -> template; fields are listed in `_fields`.
DATE_FORMATS = {
    # numeric, US order with slashes
    "m/d/yy": "{m}/{d}/{yy}",  # 9/27/94
    "mm/dd/yy": "{mm}/{dd}/{yy}",  # 09/27/94
    "m/d/yyyy": "{m}/{d}/{yyyy}",  # 9/27/1994
    "mm/dd/yyyy": "{mm}/{dd}/{yyyy}",  # 09/27/1994
    # ISO
    "iso": "{yyyy}-{mm}-{dd}",  # 1994-09-27
    # numeric, European order with dots
    "d.m.yyyy": "{d}.{m}.{yyyy}",  # 27.9.1994
    "dd.mm.yyyy": "{dd}.{mm}.{yyyy}",  # 27.09.1994
    "dd.mm.yy": "{dd}.{mm}.{yy}",  # 27.09.94
    # month name first
    "Month d, yyyy": "{Month} {d}, {yyyy}",  # September 27, 1994
    "Month d yyyy": "{Month} {d} {yyyy}",  # September 27 1994
    "Month dth, yyyy": "{Month} {dth}, {yyyy}",  # September 27th, 1994
    "Mon d, yyyy": "{Mon} {d}, {yyyy}",  # Sep 27, 1994
    "Mon d yyyy": "{Mon} {d} {yyyy}",  # Sep 27 1994
    "Mon. d, yyyy": "{Mon_dot} {d}, {yyyy}",  # Sep. 27, 1994
    "Mon d, yy": "{Mon} {d}, {yy}",  # Sep 27, 94
    # day first
    "d Month yyyy": "{d} {Month} {yyyy}",  # 27 September 1994
    "dth Month yyyy": "{dth} {Month} {yyyy}",  # 27th September 1994
    "dth of Month yyyy": "{dth} of {Month} {yyyy}",  # 27th of September 1994
    "d Mon yyyy": "{d} {Mon} {yyyy}",  # 27 Sep 1994
    "d Mon, yyyy": "{d} {Mon}, {yyyy}",  # 27 Sep, 1994
    "dd Mon yyyy": "{dd} {Mon} {yyyy}",  # 27 Sep 1994 (05 Sep 1994)
    "d-Mon-yyyy": "{d}-{Mon}-{yyyy}",  # 27-Sep-1994
    # with the weekday
    "Weekday, Month d, yyyy": "{Weekday}, {Month} {d}, {yyyy}",  # Tuesday, September 27, 1994
    "Weekday, Mon d, yyyy": "{Weekday}, {Mon} {d}, {yyyy}",  # Tuesday, Sep 27, 1994
    "Wkd, Mon d, yy": "{Wkd}, {Mon} {d}, {yy}",  # Tue, Sep 27, 94
    "Wkd Mon d yyyy": "{Wkd} {Mon} {d} {yyyy}",  # Tue Sep 27 1994
    "Weekday d Month yyyy": "{Weekday} {d} {Month} {yyyy}",  # Tuesday 27 September 1994
    "Weekday, d Month yyyy": "{Weekday}, {d} {Month} {yyyy}",  # Tuesday, 27 September 1994
    "Wkd, d Mon yyyy": "{Wkd}, {d} {Mon} {yyyy}",  # Tue, 27 Sep 1994
}

CASE_STYLES = ("title", "lower", "upper")  # title = as the template writes it

# The four styles of the chapter's date.txt, all month first: 9/27/94, Sep 27, 1994,
# September 27, 1994 and Tuesday, September 27, 1994 (what CLDR calls the short, medium,
# long and full US English date formats). Task "date-chapter" draws only these.
CHAPTER_FORMATS = ("m/d/yy", "Mon d, yyyy", "Month d, yyyy", "Weekday, Month d, yyyy")

FULL_YEAR_RANGE = (1900, 2099)
TWO_DIGIT_YEAR_RANGE = (1900 + TWO_DIGIT_YEAR_PIVOT, 2000 + TWO_DIGIT_YEAR_PIVOT - 1)  # 1969..2068

_FIELD = re.compile(r"\{(\w+)\}")


def expand_two_digit_year(yy: int) -> int:
    """Four-digit year of a two-digit one, POSIX pivot: 69-99 -> 19xx, 00-68 -> 20xx."""
    if not 0 <= yy <= 99:
        raise ValueError(f"two-digit year must be in 0..99, got {yy}")
    return 1900 + yy if yy >= TWO_DIGIT_YEAR_PIVOT else 2000 + yy


def has_two_digit_year(fmt_name: str) -> bool:
    """Whether the format writes the year with two digits."""
    return "{yy}" in DATE_FORMATS[fmt_name]


def _ordinal(day):
    """``1st``, ``2nd``, ``3rd``, ``4th``, ..., ``11th``, ``12th``, ``13th``, ``21st``, ..."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _fields(date):
    """Values of every template field for ``date``."""
    month = MONTHS[date.month - 1]
    weekday = WEEKDAYS[date.weekday()]
    return {
        "d": str(date.day), "dd": f"{date.day:02d}", "dth": _ordinal(date.day),
        "m": str(date.month), "mm": f"{date.month:02d}",
        "yy": f"{date.year % 100:02d}", "yyyy": f"{date.year:04d}",
        "Month": month, "Mon": month[:3],
        "Mon_dot": month if len(month) <= 3 else month[:3] + ".",  # "May" takes no dot
        "Weekday": weekday, "Wkd": weekday[:3],
    }


def format_date(date: datetime.date, fmt_name: str, case: str = "title") -> str:
    """Write ``date`` in the format ``fmt_name`` (a key of `DATE_FORMATS`) and letter ``case``."""
    if fmt_name not in DATE_FORMATS:
        raise ValueError(f"unknown date format {fmt_name!r}")
    if case not in CASE_STYLES:
        raise ValueError(f"unknown case {case!r}, expected one of {CASE_STYLES}")
    first, last = TWO_DIGIT_YEAR_RANGE
    if has_two_digit_year(fmt_name) and not first <= date.year <= last:
        raise ValueError(f"{date} cannot be written with a two-digit year "
                         f"(only {first}..{last} round-trip)")
    values = _fields(date)
    text = _FIELD.sub(lambda m: values[m.group(1)], DATE_FORMATS[fmt_name])
    return {"title": text, "lower": text.lower(), "upper": text.upper()}[case]


def _ordinal_range(years):
    """First and last ``date.toordinal()`` of an inclusive ``(first_year, last_year)``."""
    return datetime.date(years[0], 1, 1).toordinal(), datetime.date(years[1], 12, 31).toordinal()


def generate_dates(n: int, seed: int, formats=None) -> list[tuple[str, str]]:
    """``n`` pairs ``(written date, "YYYY-MM-DD")`` with unique sources, fixed by ``seed``.

    ``formats`` (names from `DATE_FORMATS`) restricts the formats drawn; default all.
    """
    names = list(DATE_FORMATS) if formats is None else list(formats)
    for name in names:
        if name not in DATE_FORMATS:
            raise ValueError(f"unknown date format {name!r}")
    if not names or n < 0:
        raise ValueError("need at least one format and n >= 0")
    two_digit = np.array([has_two_digit_year(name) for name in names])  # (F,)
    full, short = _ordinal_range(FULL_YEAR_RANGE), _ordinal_range(TWO_DIGIT_YEAR_RANGE)
    rng = np.random.default_rng(seed)
    pairs, seen, draws = [], set(), 0
    while len(pairs) < n:
        chunk = max(64, 2 * (n - len(pairs)))
        fmt_ids = rng.integers(len(names), size=chunk)  # (chunk,)
        case_ids = rng.integers(len(CASE_STYLES), size=chunk)  # (chunk,)
        short_year = two_digit[fmt_ids]  # (chunk,)
        days = rng.integers(np.where(short_year, short[0], full[0]),
                            np.where(short_year, short[1], full[1]) + 1)  # (chunk,) ordinals
        for fmt_id, case_id, day in zip(fmt_ids, case_ids, days):
            date = datetime.date.fromordinal(int(day))
            source = format_date(date, names[fmt_id], CASE_STYLES[case_id])
            if source not in seen:
                seen.add(source)
                pairs.append((source, date.isoformat()))
                if len(pairs) == n:
                    break
        draws += chunk
        if draws > 100 * n + 10_000:
            raise ValueError(f"could not find {n} distinct dates in these formats")
    return pairs


def generate_chapter_dates(n: int, seed: int) -> list[tuple[str, str]]:
    """`generate_dates` restricted to the chapter's four styles (`CHAPTER_FORMATS`)."""
    return generate_dates(n, seed, formats=CHAPTER_FORMATS)
