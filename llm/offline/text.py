"""Tokens for both languages: English words reduced to canonical lemmas, Chinese segmented with jieba.

Every token keeps its character span in the question, so mentions found by different means (lemma n-grams,
Chinese description phrases, data values) can be ordered and compared by position.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llm.offline import lexicon

_CJK = re.compile(r"[\u4e00-\u9fff]")
_TOKEN = re.compile(r"[\u4e00-\u9fff]+|\d+(?:[.,]\d+)*%?|[A-Za-z][A-Za-z0-9']*|%|#")


@dataclass(frozen=True)
class Token:
    """One word of a question."""

    text: str
    """The surface form, lower-cased."""
    lemma: str
    """The canonical lemma used for linking (an English word for both languages)."""
    start: int
    """Character offset of the first character in the question."""
    end: int
    """Character offset one past the last character."""
    zh: bool = False
    """Whether the token is Chinese."""


def has_cjk(text: str) -> bool:
    """Whether the text contains Chinese characters."""
    return bool(_CJK.search(text))


@lru_cache(maxsize=1)
def _canonical_map() -> dict[str, str]:
    mapping: dict[str, str] = {}
    for canon, words in lexicon.SYNONYMS.items():
        for w in words:
            if " " not in w:
                mapping.setdefault(w, canon)
        mapping[canon] = canon
    return mapping


_IRREGULAR = {"people": "person", "children": "child", "men": "man", "women": "woman", "data": "data"}


def stem(word: str) -> str:
    """Reduce an English word to a singular, lower-case stem (plural only; other morphology via synonyms)."""
    w = word.lower().replace("'s", "").strip("'")
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 4 and w.endswith(("sses", "ches", "shes", "xes")):
        return w[:-2]
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is", "ics")):
        return w[:-1]
    return w


def lemma(word: str) -> str:
    """The canonical lemma of an English word: synonyms collapse, abbreviations expand, plurals drop."""
    w = word.lower()
    canon = _canonical_map()
    if w in canon:
        return canon[w]
    s = stem(w)
    if s in canon:
        return canon[s]
    if s in lexicon.ABBREVIATIONS and " " not in lexicon.ABBREVIATIONS[s]:
        return canon.get(lexicon.ABBREVIATIONS[s], lexicon.ABBREVIATIONS[s])
    for suffix in ("ed", "ing"):
        if len(s) > 5 and s.endswith(suffix):
            base = s[: -len(suffix)]
            for cand in (base, base + "e", base[:-1] if len(base) > 2 and base[-1] == base[-2] else base):
                if cand in canon:
                    return canon[cand]
    return s


def name_lemmas(name: str) -> list[str]:
    """Split an identifier (snake_case, camelCase, spaces) into canonical lemmas: ``dep_delay`` → departure delay."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", spaced) if p]
    out: list[str] = []
    for p in parts:
        low = p.lower()
        expanded = lexicon.ABBREVIATIONS.get(low, low)
        out.extend(lemma(x) for x in expanded.split())
    return out


_jieba_lock = threading.Lock()
_jieba: Any = None


def _tokenizer() -> Any:
    """A private jieba tokenizer, loaded once and quietly, with the lexicon's Chinese words added."""
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba

                jieba.setLogLevel(logging.WARNING)
                tok = jieba.Tokenizer()
                tok.initialize()
                for word in zh_dictionary():
                    tok.add_word(word, freq=200000)
                _jieba = tok
    return _jieba


@lru_cache(maxsize=1)
def zh_dictionary() -> frozenset[str]:
    """Every Chinese word the lexicon knows (glosses, value glosses, cues, conditions, buckets)."""
    words: set[str] = set(lexicon.ZH_GLOSS) | set(lexicon.ZH_VALUE_GLOSS) | set(lexicon.BUCKET_WORDS)
    words |= set(lexicon.PERIODS) | set(lexicon.SCALES)
    for cue_words in lexicon.CUES_ZH.values():
        words.update(cue_words)
    words.update(w for w in lexicon.CONDITIONS if has_cjk(w))
    return frozenset(w for w in words if has_cjk(w))


def _split_known(word: str, known: frozenset[str]) -> list[str]:
    """Forward maximum matching of a jieba word against the lexicon, so 各地区 becomes 各 + 地区."""
    if word in known or len(word) == 1:
        return [word]
    out: list[str] = []
    i = 0
    while i < len(word):
        for j in range(min(len(word), i + 6), i, -1):
            if word[i:j] in known:
                out.append(word[i:j])
                i = j
                break
        else:
            out.append(word[i])
            i += 1
    # Merge runs of unknown single characters back into one word (names, places).
    merged: list[str] = []
    for piece in out:
        if merged and piece not in known and merged[-1] not in known:
            merged[-1] += piece
        else:
            merged.append(piece)
    return merged


def tokenize(question: str, extra_zh: frozenset[str] = frozenset()) -> list[Token]:
    """Split a question into tokens with lemmas; Chinese runs go through jieba, then the lexicon."""
    tokens: list[Token] = []
    known = zh_dictionary() | extra_zh
    for m in _TOKEN.finditer(question):
        text = m.group(0)
        if has_cjk(text):
            pos = m.start()
            for word in _tokenizer().lcut(text, HMM=True):
                for piece in _split_known(word, known):
                    gloss = lexicon.ZH_GLOSS.get(piece, piece)
                    tokens.append(Token(piece, gloss, pos, pos + len(piece), zh=True))
                    pos += len(piece)
        else:
            low = text.lower()
            lem = lexicon.SUPERLATIVE_MEASURES.get(low) or (lemma(low) if low[0].isalpha() else low)
            tokens.append(Token(low, lem, m.start(), m.end()))
    return tokens


def parse_number(text: str) -> float | None:
    """A number written with digits, English words or Chinese numerals (e.g. 五, 十二, 3.5, 1,000)."""
    t = text.strip().lower().rstrip("%")
    if re.fullmatch(r"\d+(?:,\d{3})*(?:\.\d+)?", t):
        return float(t.replace(",", ""))
    if t in lexicon.EN_NUMBERS:
        return float(lexicon.EN_NUMBERS[t])
    return zh_number(t)


def zh_number(text: str) -> float | None:
    """Chinese numerals up to the tens of thousands: 十 → 10, 二十五 → 25, 三百 → 300, 两万 → 20000."""
    if not text or any(ch not in lexicon.ZH_DIGITS and ch not in "十百千万" for ch in text):
        return None
    total, section, digit = 0, 0, 0
    for ch in text:
        if ch in lexicon.ZH_DIGITS:
            digit = lexicon.ZH_DIGITS[ch]
        else:
            unit = {"十": 10, "百": 100, "千": 1000, "万": 10000}[ch]
            if unit == 10000:
                total += (section + digit) * unit
                section, digit = 0, 0
            else:
                section += (digit or 1) * unit
                digit = 0
    return float(total + section + digit)
