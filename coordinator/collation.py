"""Vietnamese alphabetical order for names on screens and in exports: `vi_key(name)`.

Code-point order puts "Đ" (U+0110) after "Z" and "Ă", "Â", "Ê", "Ô", "Ơ", "Ư" far from their
base letters. The alphabet is a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y: letters
compare in that order, case and tone marks only break ties (the five tones, in the usual order
level, grave, hook, tilde, acute, dot below)."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Combining marks that make a letter of the alphabet (kept with the letter) ...
_LETTER_MARKS = {"\u0306": "ă", "\u0302": "^", "\u031b": "+"}
# ... and the tone marks, which only break ties.
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}
_ALPHABET = [
    "a", "aă", "a^", "b", "c", "d", "đ", "e", "e^", "f", "g", "h", "i", "j", "k", "l", "m",
    "n", "o", "o^", "o+", "p", "q", "r", "s", "t", "u", "u+", "v", "w", "x", "y", "z",
]  # fmt: skip
_RANK = {letter: rank for rank, letter in enumerate(_ALPHABET)}


def _letters(text: str) -> list[tuple[str, int]]:
    """(letter, tone) for each base character of `text`, lower case, marks folded in."""
    out: list[tuple[str, int]] = []
    for char in unicodedata.normalize("NFD", text.casefold()):
        if char in _LETTER_MARKS and out:
            letter, tone = out[-1]
            out[-1] = (letter + _LETTER_MARKS[char], tone)
        elif char in _TONES and out:
            out[-1] = (out[-1][0], _TONES[char])
        elif not unicodedata.combining(char):
            out.append((char, 0))
    return out


def _primary(letter: str) -> tuple[int, str]:
    """Spaces, punctuation and digits first, then the alphabet, then any other letter."""
    if letter in _RANK:
        return 1, f"{_RANK[letter]:02d}"
    return (2 if letter[0].isalpha() else 0), letter


@lru_cache(maxsize=16_384)  # names repeat across requests; a tally sorts hundreds of them
def vi_key(text: str) -> tuple[tuple[tuple[int, str], ...], tuple[int, ...], str]:
    """A sort key: letters in Vietnamese order first, then tones, then the text itself."""
    letters = _letters(text)
    return (
        tuple(_primary(letter) for letter, _ in letters),
        tuple(tone for _, tone in letters),
        text,
    )
