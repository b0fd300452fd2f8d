"""Settings: defaults, then QUICKDRAW_* environment, then explicit overrides; bad values fail at start-up."""

import asyncio
import json

import pytest

from core import sketch
from server import config, create_app
from server.config import ConfigError, load
from tests.conftest import FakeClassifier


def test_defaults():
    settings = load(environ={})
    assert (settings.host, settings.port, settings.model_dir, settings.saved_dir) == (
        "127.0.0.1",
        5000,
        "model",
        "saved_pictures",
    )
    assert settings.max_frame_bytes == 64 * 1024 and settings.live_guess_interval_ms == 100
    assert settings.game_time_limit_s == 20.0 and settings.limits == sketch.Limits()


def test_environment_values_are_parsed_and_overrides_win():
    environ = {
        "QUICKDRAW_PORT": "6000",
        "QUICKDRAW_GAME_TIME_LIMIT_S": "5",
        "QUICKDRAW_MODEL_DIR": "123",
        "QUICKDRAW_DATA": "not a setting",
        "PORT": "1",
    }
    settings = load({"port": 7000}, environ)
    assert settings.port == 7000 and settings.game_time_limit_s == 5.0 and settings.model_dir == "123"


def test_max_drawing_s_caps_the_game_time_limit():
    """MAX_DRAWING_S ends any drawing, a round too: the game's limit is never announced longer."""
    assert load({"MAX_DRAWING_S": 8.0}, environ={}).game_time_limit_s == 8.0
    assert load({"MAX_DRAWING_S": 8.0, "GAME_TIME_LIMIT_S": 5.0}, environ={}).game_time_limit_s == 5.0


async def test_hello_and_round_announce_the_capped_limit(tmp_path):
    app = create_app({"SAVED_DIR": str(tmp_path / "saved"), "MAX_DRAWING_S": 8.0}, FakeClassifier())
    async with app.test_app(), app.test_client().websocket("/ws") as ws:
        hello = json.loads(await asyncio.wait_for(ws.receive(), 5))
        await ws.send(json.dumps({"type": "start", "mode": "game"}))
        started = json.loads(await asyncio.wait_for(ws.receive(), 5))
    assert hello["game_time_limit_s"] == started["time_limit_s"] == hello["limits"]["max_drawing_s"] == 8.0


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="unknown setting"):
        load({"MAX_FRAMES": 1}, environ={})


@pytest.mark.parametrize(
    "overrides",
    [
        {"PORT": "abc"},
        {"PORT": 70000},
        {"MAX_FRAME_BYTES": 0},
        {"GAME_TIME_LIMIT_S": -1},
        {"RECOGNITION_THRESHOLD": 1.5},
        {"MESSAGES_PER_SECOND": True},
        {"MAX_POINTS_PER_MESSAGE": 5000},
        {"EVENT_LOOP": "tokio"},
    ],
)
def test_bad_values_fail(overrides):
    with pytest.raises(ConfigError):
        load(overrides, environ={})


def test_bad_environment_value_fails():
    with pytest.raises(ConfigError, match="PORT"):
        load(environ={"QUICKDRAW_PORT": "five"})


def test_settings_become_flask_style_config_keys():
    assert config.load(environ={}).to_config()["MAX_FRAME_BYTES"] == 65536


def test_the_event_loop_setting_picks_uvloop_or_asyncio():
    uvloop = pytest.importorskip("uvloop")
    from server.hosting import loop_factory

    assert loop_factory("uvloop") is uvloop.new_event_loop
    assert loop_factory("asyncio") is None  # asyncio.Runner's default loop


def test_the_top_guess_rule_is_a_yes_or_no_from_the_environment():
    assert load(environ={"QUICKDRAW_RECOGNITION_TOP_GUESS": "true"}).recognition_top_guess is True
    assert load(environ={"QUICKDRAW_RECOGNITION_TOP_GUESS": "false"}).recognition_top_guess is False
    for text in ("1", "yes"):
        with pytest.raises(ConfigError, match="RECOGNITION_TOP_GUESS must be bool"):
            load(environ={"QUICKDRAW_RECOGNITION_TOP_GUESS": text})
