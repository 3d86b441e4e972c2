"""The FAQ finder on the evaluation set (tests/faq_eval): 60 entries a community keeps, half
Chinese and half English, and 200+ paraphrased questions members ask. Precision at 1 and recall
at 3 are computed here through the same index and search ``find_faq`` uses."""

from handlers.faq import index_entries, search_index
from storage.faq import FaqEntry
from tests.faq_eval import entries, queries, score


def test_the_set_is_as_large_and_mixed_as_promised() -> None:
    kept, asked = entries(), queries()
    assert len(kept) >= 60 and len(asked) >= 200
    ids = {i for i, _, _ in kept}
    assert len(ids) == len(kept) and all(expected in ids for _, expected in asked)
    chinese = sum(any("\u4e00" <= c <= "\u9fff" for c in q) for _, q, _ in kept)
    assert chinese * 2 == len(kept)
    # Every entry is asked for at least three ways.
    assert all(sum(e == i for _, e in asked) >= 3 for i in ids)


def test_precision_at_1_and_recall_at_3_reach_the_goals() -> None:
    index = index_entries([FaqEntry(i, q, a) for i, q, a in entries()])
    found = score(lambda text: search_index(index, text, 3), queries())
    misses = "\n".join(f"{q!r}: wanted {e}, offered {o}" for q, e, o in found.misses)
    assert found.precision_at_1 >= 0.8, misses
    assert found.recall_at_3 >= 0.9, misses


def test_the_score_can_fail() -> None:
    """A finder that offers the wrong entries scores zero: the goals above are not vacuous."""
    found = score(lambda text: [0, -1, -2], queries())
    assert found.precision_at_1 == 0 and found.recall_at_3 == 0
