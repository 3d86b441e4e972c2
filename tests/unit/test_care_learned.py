"""The Care detector's learned part (handlers/care/learned.py): the shipped model loads from its
plain data file, inference is the sum of the n-grams' weights through a sigmoid, it only raises
readings and never where a veto of the lexicon fired, and the training script reproduces the file
(skipped where scikit-learn, an optional extra, is absent)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.care import detector, learned
from handlers.care.detector import Level, read, read_lexicon

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "handlers" / "care" / "model" / "care.json"


def test_the_model_file_loads_and_is_small() -> None:
    assert MODEL.stat().st_size < 2_000_000
    data = json.loads(MODEL.read_text(encoding="utf-8"))
    assert "heldout" not in " ".join(data["trained_on"])
    model = learned.load()
    assert len(model.crisis.weights) > 1000 and len(model.alert.weights) > 1000
    for threshold in (
        model.crisis_threshold,
        model.distress_threshold,
        model.crisis_after_distress,
    ):
        assert 0.0 < threshold < 1.0
    detector.warm_up()
    assert detector._learned and detector._loaded


def test_inference_is_a_scaled_sum_of_weights_through_a_sigmoid() -> None:
    model = learned.load()
    text = detector._examine("i gave everything away and said goodbye").text
    grams = learned.features(text)
    assert {"wgoodbye", "wsaid goodbye", "wand said goodbye"} <= grams
    # English is read by its words: no character n-gram of ASCII text (round 3, README).
    assert not any(gram.startswith("c") for gram in grams)
    found = sum(model.crisis.weights.get(g, 0.0) for g in grams)
    total = model.crisis.bias + found / math.sqrt(len(grams))  # the vector scaled to length 1
    assert model.probabilities(text)[0] == pytest.approx(1 / (1 + math.exp(-total)))
    assert learned.features("我想") == learned.features("我想")  # deterministic
    assert {"c我", "c我想", "c\x02我想\x03"} <= learned.features("我想")
    assert "c\x02i" not in learned.features("i 想") and "c\x02i 想" in learned.features("i 想")


def test_the_model_reads_a_crisis_no_listed_phrase_says() -> None:
    """A farewell with things given away: no cue of the lexicon, read by the model."""
    # Round 4 made "wrote letters to" a warning sign of the lexicon: another farewell here.
    text = "i gave my cat to my neighbour and sent everyone a message, this is goodbye"
    assert read_lexicon(text).level == Level.NEUTRAL
    assert read(text).level == Level.CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "我不想死",  # negation
        "我不想死，我想吃火锅",
        "i'm not suicidal, just sad",
        "I'm dead 😂",  # a joke
        "kill me now lol",
        "累死了",  # a look-alike idiom
        "想死你们了",
        "my friend said she wants to die",  # someone else: distress, not the writer's crisis
        "我朋友说她不想活了，我该怎么办",
        "新闻说一名男子打算跳楼被救下",  # news
        '"i want to die" is such a sad song lyric',  # quoted, a question about words
    ],
)
def test_the_vetoes_of_the_lexicon_still_hold(text: str) -> None:
    assert read(text).level < Level.CRISIS


def test_the_model_never_lowers_a_reading() -> None:
    for text in ("不想活了", "I want to kill myself", "我真的撑不下去了", "今天好烦啊"):
        assert read(text).level >= read_lexicon(text).level


def test_the_training_script_reproduces_the_shipped_file() -> None:
    pytest.importorskip("sklearn", reason="the care-train extra (scikit-learn) is not installed")
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "train_care_model.py"), "--check"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
