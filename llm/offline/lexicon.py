"""The offline writer's vocabulary: generic synonyms, abbreviations, cue words and a small Chinese glossary.

Nothing here names a table or column of the demo data: every entry is an everyday word of business or
domain language (revenue means sales, 航空公司 means airline, "busiest" means the most rows). The linker maps
schema names and question words onto the same canonical English lemmas, so one parser serves both languages.

The word tables themselves are data, in ``data/lexicon.json`` (one key per table, the Python name in lower case),
loaded once at import; this module gives each table its Python type and says what it is for. Tables computed
from rules (``PERIODS``) stay in Python.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_DATA: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "lexicon.json").read_text(encoding="utf-8"))


def _tuples(table: str) -> Any:
    """A table whose values are lists, with the lists as tuples."""
    return {key: tuple(value) for key, value in _DATA[table].items()}


# Canonical lemma -> words that mean the same thing in a question or a schema (English, already lower-case).
SYNONYMS: dict[str, tuple[str, ...]] = _tuples("synonyms")

# Abbreviations seen in column names, expanded before synonym lookup (dep_delay -> departure delay).
ABBREVIATIONS: dict[str, str] = _DATA["abbreviations"]

# Additive measures are summed when grouped; everything else numeric is averaged.
ADDITIVE: frozenset[str] = frozenset(_DATA["additive"])

# Lemmas that make a numeric column a dimension (grouped on, filtered by equality) rather than a measure.
TIME_PARTS: tuple[str, ...] = tuple(_DATA["time_parts"])

# Chinese words -> canonical English lemmas (several words for a phrase).
ZH_GLOSS: dict[str, str] = _DATA["zh_gloss"]

# Chinese value glosses: everyday words whose data values are usually stored in English.
ZH_VALUE_GLOSS: dict[str, str] = _DATA["zh_value_gloss"]

# Cue words. Keys are canonical cue names; English entries may be multi-word (matched on lemmas).
CUES_EN: dict[str, tuple[str, ...]] = _tuples("cues_en")

CUES_ZH: dict[str, tuple[str, ...]] = _tuples("cues_zh")

# Adjectives that are a condition on a measure: lemma -> (measure lemma, operator, value).
CONDITIONS: dict[str, tuple[str, str, float]] = _tuples("conditions")

# Words for a margin: profit over sales ("profit margin", 利润率), as SUM(profit) / SUM(sales).
MARGIN_WORDS: tuple[str, ...] = tuple(_DATA["margin_words"])

# Aggregate function names (as opposed to superlative adjectives): "max distance" is MAX(distance), not a ranking.
AGG_FUNCTION_WORDS: frozenset[str] = frozenset(_DATA["agg_function_words"])

# Measures where a larger value is worse: "worst delay" is the highest delay, "worst profit" the lowest.
BAD_MEASURES: frozenset[str] = frozenset(_DATA["bad_measures"])

# Order words meaning "ascending" (the other "order" cues mean descending).
ASCENDING_WORDS: frozenset[str] = frozenset(_DATA["ascending_words"])

# Superlative adjectives that name their measure: "the windiest day" ranks by wind speed.
SUPERLATIVE_MEASURES: dict[str, str] = _DATA["superlative_measures"]

# Unit words after a number that make it a quantity, not a year: "2000 miles", "1999 美元".
QUANTITY_UNITS: frozenset[str] = frozenset(_DATA["quantity_units"])

# Units the answer is asked in: phrase -> (divisor, whether it only applies to a column in minutes).
SCALES: dict[str, tuple[float, bool]] = _tuples("scales")

# Units that scale a number before comparing it with a column measured in minutes.
HOUR_WORDS: tuple[str, ...] = tuple(_DATA["hour_words"])

# Chinese measure words (量词) that may follow a number: 5个, 3家, 10次. One string, tested with ``in``.
CLASSIFIERS: str = _DATA["classifiers"]

# Month names and number words, for dates and counts written out ("in March", "top five", 三月).
MONTHS_EN: dict[str, int] = _DATA["months_en"]
ZH_DIGITS: dict[str, int] = _DATA["zh_digits"]
EN_NUMBERS: dict[str, int] = _DATA["en_numbers"]

# Named periods of the calendar: phrase -> (date part, the values it covers). A filter, never a grouping.
_H1, _H2 = (1, 2, 3, 4, 5, 6), (7, 8, 9, 10, 11, 12)
_Q = {1: (1, 2, 3), 2: (4, 5, 6), 3: (7, 8, 9), 4: (10, 11, 12)}
_SEASONS = {
    "spring": (3, 4, 5),
    "summer": (6, 7, 8),
    "autumn": (9, 10, 11),
    "fall": (9, 10, 11),
    "winter": (12, 1, 2),
}
PERIODS: dict[str, tuple[str, tuple[int, ...]]] = {
    **{
        f"{w} half{tail}": ("month", months)
        for w, months in (("first", _H1), ("second", _H2))
        for tail in ("", " of the year", " of year")
    },
    "h1": ("month", _H1),
    "h2": ("month", _H2),
    **{f"q{n}": ("month", m) for n, m in _Q.items()},
    **{
        f"{w} quarter": ("month", _Q[n])
        for n, w in ((1, "first"), (2, "second"), (3, "third"), (4, "fourth"), (4, "last"), (4, "final"))
    },
    **{f"{w} quarter of the year": ("month", _Q[n]) for n, w in ((1, "first"), (4, "last"), (4, "fourth"))},
    **{name: ("month", m) for name, m in _SEASONS.items()},
    **{f"the {name} months": ("month", m) for name, m in _SEASONS.items()},
    **{f"{name} months": ("month", m) for name, m in _SEASONS.items()},
    "上半年": ("month", _H1),
    "下半年": ("month", _H2),
    **{
        f"{p}{zh}季度": ("month", _Q[n])
        for n, zh in ((1, "一"), (2, "二"), (3, "三"), (4, "四"))
        for p in ("第", "")
    },
    **{
        f"{zh}{suffix}": ("month", m)
        for zh, m in (("春", (3, 4, 5)), ("夏", (6, 7, 8)), ("秋", (9, 10, 11)), ("冬", (12, 1, 2)))
        for suffix in ("季", "天")
    },
    # Days of the week as SQL numbers them: 0 = Sunday.
    "weekend": ("dow", (0, 6)),
    "weekends": ("dow", (0, 6)),
    "the weekend": ("dow", (0, 6)),
    "周末": ("dow", (0, 6)),
    "workdays": ("dow", (1, 2, 3, 4, 5)),
    "business days": ("dow", (1, 2, 3, 4, 5)),
    "工作日": ("dow", (1, 2, 3, 4, 5)),
}

# Time buckets: word -> bucket. Only used with a grouping cue or as an adjective ("monthly").
BUCKET_WORDS: dict[str, str] = _DATA["bucket_words"]

# Words that carry no meaning for linking (English) — keeps "the", "of", "is" from matching column names.
STOPWORDS_EN: frozenset[str] = frozenset(_DATA["stopwords_en"])

# Words that make a sentence a data question even with few schema hits.
QUESTION_WORDS_EN: frozenset[str] = frozenset(_DATA["question_words_en"])
QUESTION_WORDS_ZH: tuple[str, ...] = tuple(_DATA["question_words_zh"])

# Chit-chat and non-data requests that must be rejected even if a schema word appears by chance.
NON_DATA_PATTERNS: tuple[str, ...] = tuple(_DATA["non_data_patterns"])

# Holidays on a fixed date (month, day): "on Christmas Day", 圣诞节当天. Moving holidays (Thanksgiving) are left
# out on purpose: they differ by year, and a wrong fixed date would be a confident wrong answer.
HOLIDAYS: dict[str, tuple[int, int]] = _tuples("holidays")
