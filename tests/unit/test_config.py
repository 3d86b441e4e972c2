"""Configuration: defaults, TOML, environment overrides, and errors with key paths."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.app import config_example, feature_sections
from bot.config import ConfigError, settings_class
from bot.config import load_config as load_core_config

ROOT = Path(__file__).resolve().parents[2]
#: The settings with every shipped feature's section, as ``qunbot`` loads them.
Settings = settings_class(feature_sections())


def load_config(path: Path | str | None = None) -> tuple[Any, Path | None]:
    """The config as ``qunbot`` loads it: the shipped features' sections validated too."""
    return load_core_config(path, feature_sections())


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("QUNBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_file() -> None:
    settings, used = load_config()
    assert used is None
    assert settings.storage.url == "sqlite+aiosqlite:///qunbot.db"
    assert settings.console_enabled


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[persona]\nname = "File"\ntone = "lively"\n')
    monkeypatch.setenv("QUNBOT_PERSONA__NAME", "Env")
    settings, used = load_config(path)
    assert used == path
    assert (settings.persona.name, settings.persona.tone) == ("Env", "lively")


def test_errors_name_the_key_path_and_expected_form(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[persona]\ntone = "grumpy"\ncolour = 1\n[community]\ntimezone = "Mars/Base"\n'
        'day_reset_hour = 24\n[owners]\nids = ["12345"]\n[bogus]\nx = 1\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    problems = "\n".join(caught.value.problems)
    assert (
        "persona.tone: Input should be 'warm', 'lively' or 'professional' (got 'grumpy')"
        in problems
    )
    assert "persona.colour: unknown key" in problems
    assert "community.timezone: expected an IANA time zone" in problems
    assert "community.day_reset_hour: Input should be less than or equal to 23" in problems
    assert "owners.ids: '12345': expected 'platform:user_id'" in problems
    assert "bogus: unknown key" in problems


def test_bad_environment_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNBOT_COMMUNITY__DAY_RESET_HOUR", "noon")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert caught.value.source == "environment"
    assert caught.value.problems[0].startswith(
        "QUNBOT_COMMUNITY__DAY_RESET_HOUR (community.day_reset_hour):"
    )


def test_a_bad_environment_value_is_not_blamed_on_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[community]\ntimezone = "Mars/Base"\n[persona]\nname = "Qun"\n')
    monkeypatch.setenv("QUNBOT_COMMUNITY__DAY_RESET_HOUR", "noon")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == f"{path} and the environment"
    assert caught.value.problems == [
        "community.timezone: expected an IANA time zone such as 'Asia/Shanghai',"
        " 'Europe/Berlin' or 'UTC' (an offset such as 'UTC+8' or a city such as '北京' works"
        " too) (got 'Mars/Base')",
        "QUNBOT_COMMUNITY__DAY_RESET_HOUR (community.day_reset_hour): Input should be a valid"
        " integer, unable to parse string as an integer (got 'noon')",
    ]
    monkeypatch.setenv("QUNBOT_COMMUNITY__TIMEZONE", "UTC")
    with pytest.raises(ConfigError) as only_environment:
        load_config(path)
    assert only_environment.value.source == "environment"


def test_a_refused_secret_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNBOT_TELEGRAM__SECRET_TOKEN", "hunter2 with spaces")
    with pytest.raises(ConfigError) as caught:
        load_config()
    assert "telegram.secret_token" in caught.value.problems[0]
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    "zone", ["Asia", "America", "Etc", "Asia/" + "x" * 250, "x" * 300, "../etc/passwd", "", " "]
)
def test_every_zone_valued_setting_refuses_what_names_no_zone(tmp_path: Path, zone: str) -> None:
    from bot.config import zone_or_none

    assert zone_or_none(zone) is None
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, f'[community]\ntimezone = "{zone}"\n'))
    assert caught.value.problems[0].startswith(
        "community.timezone: expected an IANA time zone such as 'Asia/Shanghai'"
    )


def test_zones_in_the_config_may_be_written_as_people_write_them(tmp_path: Path) -> None:
    for written, meant in [("asia/shanghai", "Asia/Shanghai"), ("北京", "Asia/Shanghai")]:
        settings, _ = load_config(write(tmp_path, f'[community]\ntimezone = "{written}"\n'))
        assert settings.community.timezone == meant


def test_zone_valued_fields_are_all_validated() -> None:
    """Every setting named like a zone goes through the zone check (a new one must too)."""
    from bot.config import ZONE_EXAMPLES

    zone_fields = [path for path in _paths(Settings) if "zone" in path.rpartition(".")[2]]
    assert zone_fields == ["community.timezone"]
    for path in zone_fields:
        section, _, key = path.partition(".")
        with pytest.raises(ValueError, match="IANA time zone"):
            Settings(**{section: {key: "Asia"}})
    assert "Asia/Shanghai" in ZONE_EXAMPLES


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[persona\n"))
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_console_auto_turns_off_with_a_token(tmp_path: Path) -> None:
    settings, _ = load_config(write(tmp_path, '[telegram]\ntoken = "1:abc"\n'))
    assert not settings.console_enabled
    forced, _ = load_config(
        write(tmp_path, '[telegram]\ntoken = "1:abc"\n[console]\nenabled = true\n')
    )
    assert forced.console_enabled


def _paths(model: type, prefix: str = "") -> set[str]:
    from pydantic import BaseModel

    found = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _paths(annotation, f"{prefix}{name}.")
        else:
            found.add(prefix + name)
    return found


def test_example_documents_every_option_with_its_default() -> None:
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    example = tomllib.loads(text)
    assert Settings(**example).model_dump() == Settings().model_dump()
    for path in _paths(Settings):
        section, _, key = path.rpartition(".")
        if section:
            assert f"[{section}]" in text, f"section [{section}] missing from config.example.toml"
            block = text.split(f"[{section}]", 1)[1].split("\n[", 1)[0]
            assert f"{key} =" in block, f"{path} is not documented in config.example.toml"
        else:
            assert f"[{key}]" in text, f"[{key}] missing from config.example.toml"


def test_example_is_what_the_models_write() -> None:
    """``config.example.toml`` is generated (``qunbot config example``): a setting added,
    changed or documented in a model without regenerating the file fails here."""
    written = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    assert written == config_example(), "run: qunbot config example > config.example.toml"


def test_a_bad_feature_section_is_a_clear_startup_error(tmp_path: Path) -> None:
    """Feature sections are validated when the features are known (``bot`` imports no
    feature), with the same messages as core ones: key path, expectation, value, source."""
    from bot.app import App
    from bot.config import load_config as load_raw

    path = write(tmp_path, '[checkin]\nbase = -5\n[polls]\nwho_may_start = "anyone"\n[chekin]\n')
    raw, _used = load_raw(path)  # without the features: kept for them, not yet judged
    with pytest.raises(ConfigError) as caught:
        App(raw)
    assert caught.value.source == str(path)
    problems = "\n".join(caught.value.problems)
    assert "checkin.base: Input should be greater than or equal to 0 (got -5)" in problems
    assert "polls.who_may_start: Input should be 'everyone' or 'planners'" in problems
    assert "chekin: unknown key" in problems


def test_environment_overrides_a_feature_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUNBOT_CHECKIN__BASE", "25")
    monkeypatch.setenv("QUNBOT_REDPACKET__CHAIN", "off")
    settings, _used = load_config()
    from handlers.checkin import CheckInSettings
    from handlers.redpacket import RedPacketSettings

    assert settings.section(CheckInSettings).base == 25
    assert settings.section(RedPacketSettings).chain == "off"
    monkeypatch.setenv("QUNBOT_CHECKIN__BAES", "1")
    with pytest.raises(ConfigError, match="QUNBOT_CHECKIN__BAES: names no setting"):
        load_config()


def test_settings_of_applies_a_communitys_namespace_and_caches_it() -> None:
    from handlers.polls import PollSettings

    settings = Settings(polls={"max_days": 20})
    configured = settings.section(PollSettings)
    assert settings.section_for(PollSettings, {}, 1) is configured
    own = {"polls": {"max_days": 7}}
    first = settings.section_for(PollSettings, own, 1)
    assert (first.max_days, first.default_hours) == (7, 24)
    assert settings.section_for(PollSettings, {"polls": {"max_days": 7}}, 1) is first
    changed = settings.section_for(PollSettings, {"polls": {"max_days": 9}}, 1)
    assert changed.max_days == 9  # a changed namespace is read anew, never a stale copy
    # An override the config no longer allows is ignored, not a crash.
    assert settings.section_for(PollSettings, {"polls": {"max_days": 999}}, 2) is configured
