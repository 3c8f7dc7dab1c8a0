"""The human-written dates -> ISO generator."""

import datetime
import re

import pytest

from jumok.data import (
    CASE_STYLES,
    CHAPTER_FORMATS,
    DATE_FORMATS,
    TWO_DIGIT_YEAR_PIVOT,
    expand_two_digit_year,
    format_date,
    generate_chapter_dates,
    generate_dates,
)

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# Independent patterns for each format; named groups feed `_read` below.
_PIECES = {
    "{m}": r"(?P<m>[1-9]|1[0-2])", "{mm}": r"(?P<m>0[1-9]|1[0-2])",
    "{d}": r"(?P<d>[1-9]|[12]\d|3[01])", "{dd}": r"(?P<d>0[1-9]|[12]\d|3[01])",
    "{dth}": r"(?P<d>[1-9]|[12]\d|3[01])(?:st|nd|rd|th)",
    "{yy}": r"(?P<yy>\d\d)", "{yyyy}": r"(?P<y>(?:19|20)\d\d)",
    "{Month}": r"(?P<month>[a-z]{3,9})", "{Mon}": r"(?P<mon>[a-z]{3})",
    "{Mon_dot}": r"(?P<mon>[a-z]{3})\.?",
    "{Weekday}": r"(?P<weekday>[a-z]{6,9})", "{Wkd}": r"(?P<wkd>[a-z]{3})",
}


def _pattern(template):
    parts = re.split(r"(\{\w+\})", template)
    return re.compile("".join(_PIECES.get(p, re.escape(p)) for p in parts))


PATTERNS = {name: _pattern(t) for name, t in DATE_FORMATS.items()}


def _read(fmt_name, source):
    """Parse ``source`` as ``fmt_name`` by hand; None if it does not fit."""
    match = PATTERNS[fmt_name].fullmatch(source.lower())
    if not match:
        return None
    g = match.groupdict()
    if "yy" in g:
        year = 1900 + int(g["yy"]) if int(g["yy"]) >= 69 else 2000 + int(g["yy"])
    else:
        year = int(g["y"])
    if "m" in g:
        month = int(g["m"])
    else:
        name = g.get("month") or g.get("mon")
        if name not in MONTHS and name not in [m[:3] for m in MONTHS]:
            return None
        month = [m[: len(name)] for m in MONTHS].index(name) + 1
    try:
        date = datetime.date(year, month, int(g["d"]))
    except ValueError:
        return None
    weekday = g.get("weekday") or g.get("wkd")
    if weekday is not None and WEEKDAYS[date.weekday()][: len(weekday)] != weekday:
        return None
    return date


@pytest.mark.parametrize("source, iso", [
    ("9/27/94", "1994-09-27"), ("1/2/03", "2003-01-02"), ("27.09.1994", "1994-09-27"),
    ("September 27, 1994", "1994-09-27"), ("12/31/1999", "1999-12-31"),
    ("2.1.2003", "2003-01-02"), ("Tue, Sep 27, 94", "1994-09-27"),
])
def test_hand_checked_examples_are_written_by_some_format(source, iso):
    date = datetime.date.fromisoformat(iso)
    written = {format_date(date, name) for name in DATE_FORMATS
               if "{yy}" not in DATE_FORMATS[name] or 1969 <= date.year <= 2068}
    assert source in written


def test_each_format_on_a_known_date():
    date = datetime.date(1994, 9, 27)  # a Tuesday
    expected = {
        "m/d/yy": "9/27/94", "mm/dd/yy": "09/27/94", "iso": "1994-09-27",
        "d.m.yyyy": "27.9.1994", "dd.mm.yy": "27.09.94",
        "Month d, yyyy": "September 27, 1994", "Mon. d, yyyy": "Sep. 27, 1994",
        "dth of Month yyyy": "27th of September 1994", "d-Mon-yyyy": "27-Sep-1994",
        "Weekday, Month d, yyyy": "Tuesday, September 27, 1994",
        "Wkd, Mon d, yy": "Tue, Sep 27, 94",
    }
    for name, text in expected.items():
        assert format_date(date, name) == text
    for name in DATE_FORMATS:
        assert _read(name, format_date(date, name)) == date, name


def test_cases_ordinals_and_may_without_dot():
    date = datetime.date(2003, 5, 2)  # a Friday
    assert format_date(date, "Weekday d Month yyyy", "lower") == "friday 2 may 2003"
    assert format_date(date, "Wkd, d Mon yyyy", "upper") == "FRI, 2 MAY 2003"
    assert format_date(date, "Mon. d, yyyy") == "May 2, 2003"
    ordinals = [format_date(datetime.date(2001, 1, d), "dth Month yyyy").split()[0]
                for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)]
    assert ordinals == ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th",
                        "21st", "22nd", "23rd", "31st"]
    with pytest.raises(ValueError):
        format_date(date, "no such format")
    with pytest.raises(ValueError):
        format_date(date, "iso", "camel")


def test_two_digit_year_pivot():
    assert TWO_DIGIT_YEAR_PIVOT == 69
    assert [expand_two_digit_year(y) for y in (0, 3, 68, 69, 94, 99)] == \
        [2000, 2003, 2068, 1969, 1994, 1999]
    with pytest.raises(ValueError):
        expand_two_digit_year(100)
    with pytest.raises(ValueError, match="two-digit"):
        format_date(datetime.date(1950, 1, 1), "m/d/yy")
    assert format_date(datetime.date(2068, 12, 31), "dd.mm.yy") == "31.12.68"


@pytest.fixture(scope="module")
def sample():
    return generate_dates(3000, seed=0)


def test_deterministic_and_seed_dependent(sample):
    assert generate_dates(3000, seed=0) == sample
    assert generate_dates(300, seed=1) != sample[:300]
    assert len(generate_dates(0, seed=0)) == 0


def test_unique_sources_and_iso_targets(sample):
    assert len(sample) == 3000
    assert len({s for s, _ in sample}) == 3000
    for source, target in sample:
        date = datetime.date.fromisoformat(target)
        assert target == date.isoformat()
        assert 1900 <= date.year <= 2099
        assert len(source) <= 29


def test_every_source_reads_back_to_its_target_and_every_format_and_case_appears(sample):
    formats_seen, cases_seen = set(), set()
    for source, target in sample:
        fits = {name for name in DATE_FORMATS if _read(name, source) is not None}
        assert fits, source
        for name in fits:  # whatever format it fits, it means the same date
            assert _read(name, source).isoformat() == target, (name, source)
        formats_seen |= fits
        letters = re.sub(r"[^A-Za-z]", "", source)
        if letters.islower():
            cases_seen.add("lower")
        elif letters.isupper() and len(letters) > 2:
            cases_seen.add("upper")
        elif letters:
            cases_seen.add("title")
    assert formats_seen == set(DATE_FORMATS)
    assert cases_seen == set(CASE_STYLES)


def test_weekdays_are_true(sample):
    named = 0
    for source, target in sample:
        words = re.findall(r"[a-z]+", source.lower())
        weekday = WEEKDAYS[datetime.date.fromisoformat(target).weekday()]
        for word in words:
            if word[:3] in [w[:3] for w in WEEKDAYS]:
                assert word in (weekday, weekday[:3]), (source, target)
                named += 1
    assert named > 300


def test_two_digit_formats_stay_in_pivot_range(sample):
    for source, target in sample:
        if re.search(r"(^|[^\d])\d\d$", source) and not re.search(r"\d{4}", source):
            assert 1969 <= int(target[:4]) <= 2068, source


def test_restricting_formats():
    pairs = generate_dates(50, seed=0, formats=["iso"])
    assert all(source == target for source, target in pairs)
    with pytest.raises(ValueError):
        generate_dates(5, seed=0, formats=["bogus"])


def test_chapter_dates_use_the_four_month_first_styles_in_every_case():
    pairs = generate_chapter_dates(600, seed=0)
    assert pairs == generate_chapter_dates(600, seed=0) != generate_chapter_dates(600, seed=1)
    styles = set()
    for source, target in pairs:
        fits = [name for name in CHAPTER_FORMATS if _read(name, source) is not None]  # Mon before Month
        assert fits, source
        assert _read(fits[0], source).isoformat() == target
        letters = re.sub(r"[^A-Za-z]", "", source)
        styles.add((fits[0], "upper" if letters.isupper() else "lower" if letters.islower() else "title"))
    assert styles == {(name, case) for name in CHAPTER_FORMATS for case in CASE_STYLES
                      if name != "m/d/yy"} | {("m/d/yy", "title")}
