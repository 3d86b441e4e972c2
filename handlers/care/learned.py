"""The learned half of the Care detector: two logistic regressions over character n-grams (1-4,
those holding a character outside ASCII: Chinese) and word n-grams (1-3, English words as the
lexicon reads them), one for "the
writer's own crisis" and one for "an alert" (distress or crisis). The lexicon lists phrasings; each
new blind set phrased crisis in ways no list held (farewells, affairs put in order, things given
away, a method looked up), and the lexicon alone kept landing near 0.65-0.70 crisis recall on
it. The model reads the evidence no single phrase holds.

Trained offline by ``tools/train_care_model.py`` (scikit-learn, the ``care-train`` extra) on the
evaluation set's ``dev`` and ``seen`` splits only, and shipped as plain data
(``model/care.json``: n-gram -> weight for the kept features, a bias, and the thresholds chosen
by cross-validation on the training splits). Inference here is pure Python: the sum of the weights
of the message's n-grams divided by the square root of their number (each message's binary
n-gram vector scaled to length 1, as in training) and a sigmoid; no numpy, no scikit-learn,
nothing downloaded. The scaling is why a long message does not read as a crisis by piling up
many weak n-grams (round 3: the bot's own long sentences did; README).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from importlib import resources

__all__ = ["Model", "features", "load"]

_SPACE = re.compile(r"\s+")
#: Character n-grams from 1 to this many characters (single ASCII characters say nothing).
CHAR_MAX = 4
#: Word n-grams from 1 to this many words.
WORD_MAX = 3
#: The model reads at most this many characters of a message (the lexicon reads it all): a
#: paste of 100,000 characters costs no more than a long message.
MAX_CHARS = 2000


def features(text: str) -> set[str]:
    """The n-grams of a normalized message (``detector._examine(...).text``: case folded, NFKC,
    quotations blanked): ``c`` + characters (the start and end marked by \\x02 and \\x03) for
    n-grams holding a character outside ASCII, ``w`` + words as the English lexicon reads them
    (contractions spelled out, verbs as their stem). English is read by its words only: ASCII
    character n-grams made the bot's own polite sentences ("sorry", "goodbye", "no longer") look
    like farewells to a model trained on short chat (round 3: 57 false alerts in the neutral
    corpus with them, 3 without, at the same leave-one-set-out crisis recall, before the
    scaling by length; README)."""
    from handlers.care.detector import _english_words  # the detector imports this module

    flat = _SPACE.sub(" ", text[:MAX_CHARS]).strip()
    found: set[str] = set()
    padded = "\x02" + flat + "\x03"
    size = 0 if flat.isascii() else len(padded)  # all-ASCII text: no character n-gram is kept
    for n in range(1, CHAR_MAX + 1):
        for start in range(size - n + 1):
            gram = padded[start : start + n]
            if gram.isascii():
                continue
            found.add("c" + gram)
    words = ["<s>", *_english_words(flat), "</s>"]
    for n in range(1, WORD_MAX + 1):
        for start in range(len(words) - n + 1):
            found.add("w" + " ".join(words[start : start + n]))
    return found


@dataclass(frozen=True, slots=True)
class _Linear:
    bias: float
    weights: dict[str, float]

    def probability(self, grams: set[str]) -> float:
        """The sigmoid of the bias plus the n-grams' weights over sqrt(how many n-grams)."""
        weights = self.weights
        found = sum(weights.get(gram, 0.0) for gram in grams)
        total = self.bias + found / math.sqrt(len(grams)) if grams else self.bias
        if total < -30:
            return 0.0
        return 1.0 / (1.0 + math.exp(-total))


@dataclass(frozen=True, slots=True)
class Model:
    """The two regressions and the probabilities above which each may raise a reading."""

    crisis: _Linear
    alert: _Linear
    crisis_threshold: float
    distress_threshold: float
    crisis_after_distress: float  # P(crisis) that makes the lexicon's DISTRESS a CRISIS

    def probabilities(self, text: str) -> tuple[float, float]:
        """``(P(crisis), P(alert))`` of a normalized message."""
        grams = features(text)
        return self.crisis.probability(grams), self.alert.probability(grams)


def parse(data: dict[str, object]) -> Model:
    """A model from its exported form (see ``tools/train_care_model.py``)."""

    def linear(part: object) -> _Linear:
        assert isinstance(part, dict)
        return _Linear(float(part["bias"]), {k: float(v) for k, v in part["weights"].items()})

    models = data["models"]
    thresholds = data["thresholds"]
    assert isinstance(models, dict) and isinstance(thresholds, dict)
    return Model(
        crisis=linear(models["crisis"]),
        alert=linear(models["alert"]),
        crisis_threshold=float(thresholds["crisis"]),
        distress_threshold=float(thresholds["distress"]),
        crisis_after_distress=float(thresholds["crisis_after_distress"]),
    )


def load() -> Model:
    """The packaged model (``handlers/care/model/care.json``)."""
    text = resources.files(__package__).joinpath("model/care.json").read_text("utf-8")
    return parse(json.loads(text))
