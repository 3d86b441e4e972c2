"""The Care distress detector, case by case: the interface the feature codes against, negation,
hyperbole and jokes, quotes, questions and reports about others, news, hostile input (long,
invisible, full-width, traditional, mixed languages), thread safety and linear time."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.care import detector
from handlers.care.detector import MAX_CUES, Level, Reading, read

NEUTRAL, NEGATIVE, DISTRESS, CRISIS = Level.NEUTRAL, Level.NEGATIVE, Level.DISTRESS, Level.CRISIS


#: Lines the lexicon reads right and the learned model (handlers/care/learned.py) raises to a
#: crisis: a first-person line with a death word or pills and no veto of the lexicon. Measured
#: when the model was added (tests/care_eval/README.md); flips to a pass when fixed.
_MODEL_READS_A_CRISIS = pytest.mark.xfail(
    strict=True,
    reason="the learned model reads a bare 'die' or 'pills' after 'i' as a crisis where no "
    "veto of the lexicon fires (known limit, README)",
)


def level(text: str) -> Level:
    return read(text).level


def test_the_interface_is_the_one_the_feature_codes_against() -> None:
    assert [int(x) for x in Level] == [0, 1, 2, 3]
    assert NEUTRAL < NEGATIVE < DISTRESS < CRISIS
    found = read("我真的撑不下去了")
    assert isinstance(found, Reading) and found.level == DISTRESS
    assert 0.5 <= found.score <= 1.0
    with pytest.raises(AttributeError):
        found.level = NEUTRAL  # type: ignore[misc]  # frozen
    assert read("今天天气不错") == Reading(NEUTRAL, 0.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("不想活了", CRISIS),
        ("我想结束这一切", CRISIS),
        ("I want to kill myself", CRISIS),
        ("i've wanted to die for a long time", CRISIS),  # inflections read as their stem
        ("我真的撑不下去了", DISTRESS),
        ("I can't cope anymore, everything is falling apart", DISTRESS),
        ("今天好烦啊，被领导骂了一顿", NEGATIVE),
        ("feeling a bit low today", NEGATIVE),
        ("周末一起去爬山吗", NEUTRAL),
    ],
)
def test_the_levels_of_the_issue(text: str, expected: Level) -> None:
    assert level(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "我不想死，我想吃火锅",
        "我并不想死哈哈",
        "我没有想自杀，只是心情很差而已",
        "没有不想活，就是想请假",
        "i'm not suicidal, just sad",
        "i would never hurt myself",
        "never thought about killing myself, why would u ask",
        "i'm not gonna kill myself over a video game",
    ],
)
def test_a_negated_cue_does_not_alert(text: str) -> None:
    assert level(text) < DISTRESS


def test_negation_is_a_negator_next_to_the_cue_not_any_negative_word() -> None:
    # 不如 ("might as well") and 是不是 (a question) are not negations; "don't know" is not one.
    assert level("不如死了算了") == CRISIS
    assert level("我是不是死了比较好") == CRISIS
    assert level("i don't know how much longer i can keep going") == DISTRESS
    # A cue that is itself negative is matched whole.
    assert level("i don't want to live anymore") == CRISIS
    assert level("真的不想活了") == CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "累死了",
        "笑死",
        "饿死了",
        "热死了",
        "I'm dead 😂",
        "this homework is killing me",
        "kill me now lol",
        "想死你们了！周末聚一下",
        "笑到想死，这个视频一定要看",
        "跳楼价清仓！全场五折",
        "这游戏里自杀式冲锋也太好用了吧",
        "we need to kill the boss before the timer runs out",
        "this song is to die for",
        "wanna die on this hill? lol fine",
        "上班好想死",
        "i want to die, this exam is impossible",
    ],
)
def test_hyperbole_jokes_and_game_talk_do_not_alert(text: str) -> None:
    assert level(text) < DISTRESS


def test_a_death_wish_beside_a_laugh_is_a_low_mood_not_nothing() -> None:
    """Laughter can be a mask: the reading still counts towards the member's baseline."""
    assert level("i want to die lol") == NEGATIVE
    assert level("我想死哈哈") == NEGATIVE
    # Denying a joke is no laugh; crying is not laughter; a named method is kept beside a laugh.
    assert level("我真的想死，不是开玩笑") == CRISIS
    assert level("i want to die, not joking lol") == CRISIS
    assert level("不想活了😭") == CRISIS
    assert level("我又割腕了哈哈") == CRISIS
    # A chore beside a death wish makes it hyperbole, unless distress is said too.
    assert level("上班好想死，我真的撑不下去了") == CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "我不想活了哈哈",
        "说真的 活下去没意思了 笑死 不想活着了",
        "i'm going to kill myself lmao, nobody would notice",
        "thinking about offing myself again 💀",
        "everyone is better off without me 😂",
        "i do not want to live anymore haha",
        "can't stop thinking about suicide, day and night",
        "我早该消失了 狗头",
        "想原地去世，这次不是那种玩笑",
        "晚上睡觉总希望自己别再醒来",
    ],
)
def test_a_direct_first_person_statement_is_kept_beside_a_laugh(text: str) -> None:
    """Round 4: not wanting to live, killing or "offing" oneself, being better off gone, said by
    the writer, is a crisis however much it laughs; "can't stop" does not negate what follows,
    and a hyperbole idiom said to be meant counts."""
    assert level(text) == CRISIS


@pytest.mark.parametrize(
    "text",
    [
        "笑死 我要被这个视频笑死了",
        "累死了哈哈 今天跑了十公里",
        "想死你们了哈哈 周末聚聚",
        "i'm dead 😂 that meme",
        "dishes again, kill me now lol",
        "dying of laughter at this thread lmao",
        "died to the boss again lol, respawning",
        "i almost killed myself laughing at that clip",
        "想原地去世 刚才在电梯里放了个屁",
        "this song made me want to die lol it's so bad",
        # A direct phrase beside a game or a chore and a laugh stays hyperbole (``prone``).
        "游戏里我早该消失了 哈哈 太菜了",
        "my boss hates me, should've disappeared years ago lol",
    ],
)
def test_hyperbole_beside_a_laugh_still_does_not_alert(text: str) -> None:
    assert level(text) < DISTRESS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Self-harm with its injury; means counted or saved with a day; provisions; a last day
        # or stream; logging off or game over said of oneself.
        ("cut a bit too deep tonight and the bleeding will not stop", CRISIS),
        ("划得太深了 血止不住", CRISIS),
        ("enough pills saved up now. tonight it is", CRISIS),
        ("吃多少片才够 查到了", CRISIS),
        ("wrote letters to my parents, they're under my pillow", CRISIS),
        ("欠的都还了 想干干净净地走", CRISIS),
        ("last stream ever. thanks for everything", CRISIS),
        ("game over irl. no respawn", CRISIS),
        # Their ordinary look-alikes.
        ("切菜划得有点深 血止不住 家里有创可贴吗", NEUTRAL),
        ("last stream before my hiatus, thanks for everything", NEUTRAL),
        ("my last day at the old job, new job on monday!", NEUTRAL),
        ("logging off permanently from this game, uninstalling it", NEUTRAL),
        ("hardcore mode, no respawn, wish me luck", NEUTRAL),
        ("can someone look after my cat after this week? i'm on a trip", NEUTRAL),
        ("最后一次直播 下个月换平台 谢谢一直支持", NEUTRAL),
        # 谁来救救我 about homework is hyperbole; 心慌 over layoffs is a low mood; both in earnest
        # beside distress still alert.
        ("化学作业谁来救救我 明天就要交", NEUTRAL),
        ("这两天一直心慌 怕被优化", NEUTRAL),
        ("谁来救救我 我真的撑不下去了", DISTRESS),
        ("心慌得厉害 喘不上气 感觉要崩溃了", DISTRESS),
    ],
)
def test_round_four_warning_sign_kinds_and_their_look_alikes(text: str, expected: Level) -> None:
    assert level(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "“我不想活了”这句歌词写得真好，循环一整天",
        "电影里那句“我想结束这一切”演得太好了",
        "「不想活了」是什么梗",
        '"i want to die" is literally the whole chorus lmao',
        'that movie line "I just want to die in peace" got me',
    ],
)
def test_quoted_lyrics_and_lines_are_not_the_members_words(text: str) -> None:
    assert level(text) < DISTRESS


def test_a_quote_passed_on_with_a_call_for_help_is_about_someone_else() -> None:
    text = '"i want to kill myself" - my sister texted me this, what do i do'
    assert level(text) == DISTRESS


def test_someone_else_in_crisis_is_the_members_distress_not_their_crisis() -> None:
    """Decided: a member telling of someone else's crisis needs a human's help (an alert), but
    it is not the writer's own crisis: DISTRESS, never CRISIS."""
    for text in (
        "他说他想死",
        "我朋友说她想死，我该怎么办？",
        "my friend said she wants to die, what should I do?",
        "my roommate keeps saying he wants to kill himself",
        "我男朋友说要跳楼，我该报警吗",
    ):
        assert level(text) == DISTRESS, text
    # The writer named after someone else in a later clause is the writer again.
    assert level("他们都不在乎我，我不想活了") == CRISIS


def test_news_and_addressing_someone_do_not_alert() -> None:
    assert level("据报道，某男子因欠债跳楼，警方已介入调查") < DISTRESS
    assert level("news: police say the man died by suicide, investigation ongoing") < DISTRESS
    assert level("据报道，警方救下了一名想轻生的女子") < DISTRESS
    assert level("你去死吧") < DISTRESS
    assert level("谁想死啊") < DISTRESS


@pytest.mark.parametrize(
    "text", ["", " ", "\n\t  ", "😂😂😂", "👍", "\u200b\u200b", "🧧🎉", "。。。", "!!!"]
)
def test_empty_whitespace_and_emoji_only(text: str) -> None:
    assert read(text) == Reading(NEUTRAL, 0.0)


def test_invisible_characters_and_full_width_forms_are_folded() -> None:
    assert level("我想\u200b死") == CRISIS
    assert level("不\u200d想\u2060活\ufeff了") == CRISIS
    assert level("Ｉ ｗａｎｔ ｔｏ ｋｉｌｌ ｍｙｓｅｌｆ") == CRISIS
    assert level("I WANT TO DIE") == CRISIS
    assert level("i want to k\u00adill myself") == CRISIS
    assert level("i’m gonna kill myself") == CRISIS  # a phone's apostrophe
    assert level("sooo hopeless") == DISTRESS  # stretched letters


def test_traditional_characters_read_as_simplified() -> None:
    assert level("我想結束這一切") == CRISIS
    assert level("我真的撐不住了") == DISTRESS


def test_mixed_language_messages() -> None:
    assert level("我想死 i really want to die") == CRISIS
    assert level("今天好累 but i'm fine lol") < DISTRESS
    assert level("emo了，i can't cope anymore") == DISTRESS
    # A Latin word of the Chinese lexicon stands alone: "emo" is not in "emotional".
    assert level("that was an emotional ending, beautiful") == NEUTRAL


def test_a_cue_said_twice_is_one_piece_of_evidence() -> None:
    assert read("😭").level == NEUTRAL
    assert read("😭😭😭😭").level == NEUTRAL


def _fastest_of_five(text: str) -> float:
    """The fastest of five reads in this process's CPU time: the other processes of a shared
    machine are not the reading's cost (the linear-time check compares two such figures; under
    load 5 wall-clock figures once broke the ratio for both round 6's and round 7's code)."""
    spent = []
    for _ in range(5):
        started = time.process_time()
        read(text)
        spent.append(time.process_time() - started)
    return min(spent)


@pytest.mark.parametrize(
    "unit",
    [
        "想死",
        "i want to die ",
        "不",
        "想死你",
        "“",
        '"a',
        "hahaha lol ",
        "我",
        "a",
        "😂",
        "x" * 99 + " ",
        # round 7: reported words carried (说 clauses after another is named), clauses naming
        # others, a listener's 说, and the worried-member check (farewell + unreachable + asking)
        "她说，",
        "室友说，想死，",
        "，说",
        "室友，",
        "跟爸妈说，",
        "对不起 打不通 怎么办 ",
        "sorry for everything, not answering, what should i do, ",
        "my sister said, ",
        "她说，想死。",
    ],
)
def test_a_hostile_100_kb_message_reads_in_bounded_linear_time(unit: str) -> None:
    detector.warm_up()
    big = unit * (100_000 // len(unit))
    spent = _fastest_of_five(big)
    assert spent < 2.0, f"{spent:.2f} s for {len(big):,} characters of {unit!r}"
    # Linear: a quarter of the text takes about a quarter of the time (quadratic would be 1/16).
    quarter = _fastest_of_five(unit * (25_000 // len(unit)))
    assert spent < 8 * quarter + 0.02, (spent, quarter)


def test_the_cues_judged_in_one_message_are_bounded() -> None:
    # Thousands of repeats cost what MAX_CUES do; a crisis among them is still read.
    assert level("想死。" * 20_000) == CRISIS
    assert MAX_CUES <= 100


def test_reading_is_thread_safe_including_the_first_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(detector, "_loaded", {})
    texts = ["我不想活了", "i want to kill myself", "今天好开心", "我真的撑不下去了"] * 25
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(level, texts))
    assert found == [CRISIS, CRISIS, NEUTRAL, DISTRESS] * 25
    assert set(detector._loaded) == {"zh", "en"}


def test_the_lexicons_ship_with_the_package() -> None:
    """They are package data (pyproject.toml), so a pip install reads them too."""
    import tomllib
    from importlib import resources
    from pathlib import Path

    for language in ("zh", "en"):
        text = (
            resources.files("handlers.care").joinpath(f"lexicon/{language}.toml").read_text("utf-8")
        )
        data = tomllib.loads(text)
        assert len(data["crisis"]) >= 50 and len(data["distress"]) >= 50
        assert all(0 < w <= 1 for s in ("crisis", "distress", "negative") for w in data[s].values())
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert "care/lexicon/*.toml" in pyproject.read_text(encoding="utf-8")


def _listed_phrases() -> list[str]:
    """Every phrase the lexicons list directly (not compositions), normalized."""
    import tomllib
    from importlib import resources

    found = []
    for language in ("zh", "en"):
        text = resources.files("handlers.care").joinpath(f"lexicon/{language}.toml")
        data = tomllib.loads(text.read_text("utf-8"))
        for section in ("crisis", "crisis_strong", "distress"):
            words = detector._english_words if language == "en" else list
            found.extend(" ".join(words(detector.normalize(p))) for p in data[section])
    return found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i deserve to die", CRISIS),
        ("i plan to leave this world", CRISIS),
        ("i'm ready to throw myself off a bridge", CRISIS),
        ("tempted to jump in front of a train", CRISIS),
        ("我打算下周自尽", CRISIS),
        ("干脆卧轨算了", CRISIS),
        ("我吞了一堆药", CRISIS),
        ("i can no longer cope", DISTRESS),
        ("人生毫无意义", DISTRESS),
    ],
)
def test_a_composition_reads_what_no_listed_phrase_says(text: str, expected: Level) -> None:
    """An intent or act followed by what it is about, within a few words: these messages hold
    no listed phrase of their level (checked), so only a composition can read them."""
    words = " ".join(detector._english_words(detector.normalize(text)))
    normal = detector.normalize(text)
    assert not any(p and (p in words or p in normal) for p in _listed_phrases() if len(p) > 1)
    assert level(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "我不打算自杀，放心",  # negation before the first part
        "i don't plan to overdose, relax",
        "i'm going to die of boredom",  # a bare death word pairs only with a wish or plan
        "要死了要死了，作业好多",
        "我准备死磕这个副本",  # a look-alike (死磕) inside the span
        "准备跳下去游泳，水好凉",
        "新闻说一名男子打算跳楼被救下",  # news
        pytest.param(
            "i want to eat pizza with all my friends and die",  # outside the window
            marks=_MODEL_READS_A_CRISIS,
        ),
        "感冒吃了好多药还没好",  # medicine, not an overdose
        pytest.param("i take a lot of pills for my back", marks=_MODEL_READS_A_CRISIS),
        "i can't go on saturday sorry",
    ],
)
def test_compositions_keep_the_judging_of_cues(text: str) -> None:
    assert detector.read_lexicon(text).level < DISTRESS  # the compositions themselves
    assert level(text) < DISTRESS  # and the learned model does not raise it


def test_a_composition_about_someone_else_or_beside_a_laugh() -> None:
    assert level("my friend is planning to overdose, what do i do") == DISTRESS
    assert level("i deserve to die lol") == NEGATIVE
    assert level("考试考砸了，我打算去死") == NEGATIVE  # a bare death wish beside a chore


def test_hanging_and_drowning_read_as_their_stem() -> None:
    assert level("i'm thinking of hanging myself") == CRISIS
    assert level("i keep thinking about drowning myself") == CRISIS


def test_a_hedge_makes_distress_a_low_mood() -> None:
    assert level("i kinda hate myself") == NEGATIVE
    assert level("i hate myself") == DISTRESS
    assert level("我有点崩溃") == NEGATIVE


# --- round 2: warning signs said indirectly ---------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # two warning signs of different kinds together (a goodbye and a time picked, a
        # burden and "soon", affairs in order and a departure)
        "thanks for being my friend all these years. after tonight it won't matter",
        "don't worry, soon i won't be anyone's burden",
        "tied up all the loose ends before i go",
        "钱都还清了 存款转给我弟了",
        "很快就不会再是任何人的负担了",
        "以后拜托了 我不会再打扰大家了",
        # an act, a means or a place, enough alone and kept beside a laugh
        "burned my arm with a lighter lol",
        "googled how many pills it takes, i have enough",
        "昨晚又划了自己 哈哈",
        "药我都偷偷攒起来了",
        "站在天台边上 风很大",
        # slang and "not waking" (the lexicon alone)
        "ctb soon i think",
        "要是明天不用再醒来就好了",
    ],
)
def test_warning_signs_said_indirectly_read_as_a_crisis(text: str) -> None:
    assert detector.read_lexicon(text).level == CRISIS, text


@pytest.mark.parametrize(
    "text",
    [
        # one warning sign alone is weak: a goodbye, a thanks, a giving-away
        "thanks for everything, see you all next week",
        "anyone want my old monitor? won't need it",
        "对不起 今天又迟到了",
        "以后用不到了 这本书谁要",
        # an ordinary reason to leave beside the signs: moving house, a new job, a game
        "moving to osaka next week, giving away my plants, won't need them. thanks for everything",
        "new job starts monday, won't be around here much, thanks for everything guys",
        "quitting the game, giving away all my gear, won't need it",
        "下周搬家 家里的书免费送 以后用不到了 谢谢大家",
        "离职了 以后可能不会再上线了 大家保重",
        "退坑了 装备你们分了吧 我用不上了",
        # medicine talked about practically, ropes and roofs for ordinary things, game deaths
        "how many pills of paracetamol is safe for a fever?",
        "布洛芬一次吃几片 头疼",
        "bought rope for the hammock",
        "天台晒被子 风好大",
        "died to the boss again, my character has new scars lol",
        "手机密码发给我妈了 她帮我收快递",
    ],
)
def test_ordinary_farewells_moving_medicine_and_games_do_not_alert(text: str) -> None:
    assert level(text) < DISTRESS, text


def test_saying_it_is_meant_lifts_the_laughter_veto() -> None:
    # Laughter makes a bare death wish a low mood; saying it is meant makes it a crisis again.
    assert level("i want to die lol") == NEGATIVE
    assert level("i want to die lol, i'm being serious") == CRISIS
    assert level("想死 哈哈") == NEGATIVE
    assert level("想死 哈哈 不是玩笑") == CRISIS
    # ...but an earnest word beside plain fun is still fun.
    assert level("not joking, this cake is to die for lol") == NEUTRAL


def test_a_question_about_a_word_but_not_a_first_person_statement_beside_it() -> None:
    assert level("what does kms mean?") < DISTRESS
    assert level("what does it mean that i want to kill myself every night?") == CRISIS


def test_a_look_alike_of_a_low_mood_word_does_not_silence_the_model() -> None:
    """麻烦 is a look-alike of the low-mood 烦: it sets that word aside, but says nothing against
    the rest of the message, so the learned model may still read it."""
    examined = detector._examine("不会再给任何人添麻烦了")
    assert "look-alike" not in examined.vetoes
    examined = detector._examine("想死你们了")
    assert "look-alike" in examined.vetoes  # an alert cue set aside still stops the model


@pytest.mark.parametrize(
    "text",
    [
        "bought charcoal today, not for a bbq",  # a means with its ordinary use denied
        "the rope i ordered arrived lol",  # a means arrived: kept beside a laugh
        "网上买的绳子到了 哈哈",
        "想好了怎么跟这个世界说再见了 别劝我 哈哈",  # "don't talk me out of it" is meant
        "lol been googling painless ways to die again",
        "今天买了炭 不是用来烧烤的",
    ],
)
def test_round_three_kinds_read_as_crisis_by_the_lexicon(text: str) -> None:
    """Kinds the ninth blind set said indirectly (README, round 3), written anew here."""
    assert detector.read_lexicon(text).level == CRISIS


@pytest.mark.parametrize(
    "text",
    [
        # round 3: a rope, charcoal, a goodnight, painless, relief after an exam
        "买的跳绳到了 哈哈",
        "my climbing rope arrived lol",
        "bought charcoal for the bbq tonight, who is bringing meat",
        "买了炭 周末烧烤 来不来",
        "goodnight everyone, see you tomorrow",
        "been googling painless ways to get a tattoo lol",
        "i will go see her soon, she just moved to ohio",
        "考完这门就彻底解脱了 放假啦",
        "ngl this pizza slaps lol",
        # round 5: medicine asked about for a relative, a gun for the range, a plan for the weekend
        "我妈睡不好 安眠药和褪黑素哪个副作用小",  # medicine asked about for a relative
        "got the gun out of the safe for the range on saturday",
        "took dad's rifle out of the safe to go hunting",
        "i have a plan for the weekend: sleep and pizza",
        "i wish i wasn't here right now, this meeting is so boring",
        "how to kill the boss in the last level",
        "从楼上下去拿个快递",
        # round 5: a wish not to be alive, not waking, an overdose, a gun taken out, said of a
        # decade, an alarm clock, sweets, a show-and-tell or money
        "i wish i wasn't alive during the 80s, the music was awful",
        "i hope i never wake up this early again",
        "we swallowed the whole pack of gummies lol",
        "dad took the gun out of the safe to show my uncle",
        "done with living paycheck to paycheck",
        # round 6: what earlier models or rules read as crises: a diving board, a quiz team,
        # stars from the roof, pills as prescribed, a novel's plot, missing practice, a last chapter
        "i see myself jumping off the high dive at the pool this summer",
        "the team would be better off without me at trivia lol",
        "我想去楼顶看看星星",
        "i took all my pills this morning like the doctor said",
        "我这本书的女主第二卷要假死 读者要给我寄刀片了😂",
        "not going to make it to band practice tonight, flat tire. see you all friday",
        "the final chapter of my story goes up tonight, thank you all for reading!",
        "周末烧烤 炭都买好了",
    ],
)
def test_look_alikes_of_each_round_do_not_alert(text: str) -> None:
    """Ordinary lines with the words of each round's rules or training lines (README): none
    alerts. Written anew, none from an evaluation set."""
    assert level(text) < DISTRESS


@pytest.mark.parametrize(
    "text",
    [
        "still figuring out how to kill myself so nobody at work finds out",  # a chore word
        "so tired of living, i want out for good",  # the wish not to be alive
        "some nights i wish i were not alive",
        "i hope i die in my sleep tonight",
        "i pray god takes me soon",
        "downed every pill in the bathroom cabinet an hour ago",  # an act just done
        "took my brother's gun out of the closet, this is the end",  # a means taken + finality
        "i have a plan and i am going through with it tonight",
        "i can't stop picturing myself jumping off the bridge",
        "绳子已经挂好了",
        "每晚都祈祷别让我再醒过来",
        "真想从这栋楼跳下去",
    ],
)
def test_round_five_rules_read_as_crisis_by_the_lexicon(text: str) -> None:
    """Round 5's general rules (README): a first-person method asked for is a plan, wishes not
    to be alive are crisis, an overdose just taken is an act, a means taken from where it is
    kept is a sign. Written anew, none from an evaluation set."""
    assert detector.read_lexicon(text).level == CRISIS


@pytest.mark.parametrize(
    ("text", "look_alike"),
    [
        # "unalive" read as its stem (unaliving, unalived); a game's boss unaliving the writer
        ("lately unaliving myself is all i think about", "the raid boss unalived me twice lol"),
        # not waking up named a relief; an alarm clock
        ("honestly never waking up sounds nice", "not waking up at 6 tomorrow would be nice"),
        # "ending it" said to mean the writer; a break-up
        (
            "after the holidays i'm finally ending it. myself i mean",
            "i'm finally ending it with her this weekend",
        ),
        # a friend's wish not to be alive, told by a worried member (DISTRESS); "i wish he was"
        ("my cousin keeps saying he wishes he was dead, what do i say", "the meeting ran long"),
        # game gear given away by one who won't be alive to use it, beside a laugh
        (
            "my sword and shield are yours guys, i won't be alive to use them lol",
            "gonna give my old sword to a newbie, gg",
        ),
        ("想4 认真的", "想4点就出发"),
        ("准备润了 不是出国那个润", "准备润去加拿大了 签证下来了"),
        ("我想退出人生 不重开了", "我想退出这个群聊"),
        ("真想吃药死了算了", "感冒了 吃药睡一觉就好"),
        ("又拿刀片在手臂上划了几道", "用刀在木头上刻了个字"),
        ("笑死 连死都死不成", "笑死 我连输十把"),
        ("哈哈 炭都买好了 这次应该能成", "这次应该能成功上岸"),
        ("日子太苦了 活着还有啥意思", "这句歌词是啥意思啊"),
    ],
)
def test_round_six_rules_and_their_look_alikes(text: str, look_alike: str) -> None:
    """Round 6's rules (README): each read as an alert by the lexicon alone, and an ordinary
    line with the same words that does not alert. Written anew, none from an evaluation set."""
    assert detector.read_lexicon(text).level >= DISTRESS, text
    assert level(look_alike) < DISTRESS, look_alike


@pytest.mark.parametrize(
    ("text", "look_alike"),
    [
        # a dose asked about for the writer; a dose as trivia
        (
            "what's a lethal dose of my sleeping meds? it's for me",
            "lethal dose of caffeine is like 80 coffees lol",
        ),
        ("吃多少片安眠药才会睡过去 不是帮别人问的", "不是帮别人问的 是我自己想换手机"),
        # an act just done; a harvest, pills for a back, a cutting board
        ("割完了 血还在流", "麦子割完了 明天晒"),
        (
            "last night i swallowed a handful of my dad's painkillers",
            "took a bunch of pills for my back this morning",
        ),
        ("the cutting got worse since the breakup", "the cutting board got moldy, tossing it"),
        # a method kept ready; a barbecue, a tow rope
        ("there's a rope in my trunk and i know the tree", "got a tow rope in my trunk for winter"),
        ("木炭已经放后备箱了 这次不会再失败", "烧烤的炭放后备箱了 周六见"),
        (
            "sitting in the closed garage with the engine running, sorry everyone",
            "left the engine running in the driveway to warm it up",
        ),
        (
            "walked to the lake with stones in my coat pockets",
            "kid came home with rocks in his pockets again",
        ),
        # at a height, working up the nerve; a party, the other side of a fence
        (
            "up on the overpass working up the nerve to step off",
            "working up the nerve to go over and say hi",
        ),
        ("半夜站在天台栏杆边 想翻过去", "球掉到隔壁阳台了 想翻过去拿"),
        ("最近总在想 要是我死了 谁会第一个发现", "要是我死了 谁来给我的猫铲屎 哈哈"),
    ],
)
def test_round_seven_rules_and_their_look_alikes(text: str, look_alike: str) -> None:
    """Round 7's rules (README): each read as a crisis by the lexicon alone, and an ordinary line
    with some of the same words that does not alert. Written anew, none from an evaluation set."""
    assert detector.read_lexicon(text).level == CRISIS, text
    assert level(look_alike) < DISTRESS, look_alike


@pytest.mark.parametrize(
    "text",
    [
        # someone else's wish passed on by a worried member (reported, then carried)
        "我同桌下课的时候说，不想活了，还说药都攒好了，我要不要告诉老师",
        "室友刚才说，想从宿舍楼上跳下去，我该怎么办",
        # a quoted farewell and a phone that does not answer
        '我哥发了句"对不起，帮我照顾好妈"，然后电话就打不通了，怎么办',
        "my brother's last text said goodbye and he's not answering, what should i do",
    ],
)
def test_round_seven_others_crises_are_the_members_distress(text: str) -> None:
    """Another person's crisis, told by a worried member, is that member's DISTRESS: neither
    the writer's CRISIS nor nothing."""
    assert level(text) == DISTRESS, text


@pytest.mark.parametrize(
    ("text", "someone_else"),
    [
        ('我哥发了句"对不起，帮我照顾好妈"，然后电话就打不通了，怎么办', True),
        ("my brother's last text said goodbye and he's not answering, what should i do", True),
        # no one else named or quoted: the farewell and the police may be the writer's own
        ("i'm on the roof. police are here. what do i do", False),
        ("对不起大家，我要关机了，以后别找我了，不知道该怎么办", False),
    ],
)
def test_a_worried_members_distress_bars_the_model_only_for_someone_else(
    text: str, someone_else: bool
) -> None:
    """The worried-member rule alerts either way; it keeps the learned model from making the
    crisis the writer's only when someone else is named or quoted (review of round 7)."""
    assert level(text) == DISTRESS, text
    assert ("other" in detector._examine(text).vetoes) is someone_else, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # the writer's own, after someone else was named: still the writer's crisis
        ("我妈骂我，我不想活了", CRISIS),
        ("没人跟我说话 我真的不想活了", CRISIS),
        ("我妈说，我是废物，我想从楼上跳下去", CRISIS),
        ("被我妈说了一顿，说我没用，我想从楼上跳下去", CRISIS),
        # a quote about death, a moderators' reminder
        ("'death is nothing to us' - epicurus. great line", None),
        ("reminder: posts about self-harm go in #support, the mods check it daily", None),
        ("对不起大家 今天迟到了 电话打不通是因为没电", None),
    ],
)
def test_round_seven_look_alikes_keep_their_reading(text: str, expected: object) -> None:
    """The round-7 vetoes and carried speakers do not reach the writer's own crisis; quotes,
    reminders and an apology for a flat phone do not alert."""
    if expected is None:
        assert level(text) < DISTRESS, text
    else:
        assert level(text) == expected, text


@pytest.mark.parametrize(
    "text",
    [
        # 说 opening a clause as a turn of phrase (说实话, 说真的...), not someone's words
        "室友吵架了，说实话，想从楼上跳下去",
        "和室友吵架了。说真的。不想活了",
        "跟男朋友分手了，说到底，想结束这一切",
        "跟男朋友分手了，说起来好笑，攒了一瓶安眠药",
        "室友吵架了，说句心里话，想从楼上跳下去",
        # 说 closing a clause the member speaks to someone in (跟爸妈说): no words passed on
        "不知道该怎么跟爸妈说，不想活了",
        "这些事不敢跟爸妈说，攒了一瓶安眠药",
        "我什么都不敢跟室友说，想从楼上跳下去",
    ],
)
def test_a_turn_of_phrase_or_a_listener_passes_no_one_elses_words_on(text: str) -> None:
    """Reported words (round 7) start at a reporting verb whose speaker is someone else: a
    member's own crisis after 说实话, or after "I can't tell my parents", stays the member's
    (and the learned model is not barred from it)."""
    assert level(text) == CRISIS, text


@pytest.mark.parametrize(
    "text",
    [
        "妈妈刚才说，晚饭吃饺子。真的不想活了",
        "妈妈刚才说，晚饭吃饺子。好累。攒了一瓶安眠药，今晚就吃",
        "室友说，明天要交作业！想从楼上跳下去",
    ],
)
def test_reported_words_end_with_their_sentence(text: str) -> None:
    """Someone's words passed on are carried over the clauses that follow, not past the end of
    the sentence: the member's own crisis in the next one is the member's."""
    assert level(text) == CRISIS, text


@pytest.mark.parametrize(
    "text",
    [
        "broke up with my girlfriend, texted her goodbye, going to jump off the bridge tonight",
        "had a fight with my brother, told him i was done, going to jump off the bridge tonight",
    ],
)
def test_a_message_sent_to_someone_passes_no_words_on(text: str) -> None:
    """ "texted her", "told him" opening a clause are the writer's own (the subject dropped):
    the writer's crisis after them stays theirs."""
    assert level(text) == CRISIS, text
