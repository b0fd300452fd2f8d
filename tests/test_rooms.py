"""The room rules (server/rooms.py): joining, the host, rounds, scoring, and the room as JSON."""

import pytest

from server import rooms
from server.rooms import Room, RoomError

WORDS = ["banana", "cat", "moon", "house", "fish", "tree"]
LIMIT = 20_000


def lobby(*names: str) -> Room:
    room = Room(rooms.new_code(), LIMIT)
    for name in names:
        room.join(f"id-{name}", name)
        room.connect(f"id-{name}", f"socket-{name}")
    return room


def test_codes_are_short_unambiguous_and_valid():
    codes = {rooms.new_code() for _ in range(200)}
    assert len(codes) > 190 and all(rooms.CODE_PATTERN.fullmatch(code) for code in codes)
    assert not any(set(code) & set("01OIL") for code in codes)


@pytest.mark.parametrize(
    "raw,shown",
    [
        ("  Ada  ", "Ada"),
        ("Ada   Lovelace", "Ada Lovelace"),
        ("Zoë", "Zoë"),
        ("a" * 24, "a" * 24),
        ("Ada\u00a0L", "Ada L"),
    ],
)
def test_display_names_are_trimmed(raw, shown):
    assert rooms.display_name(raw) == shown


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "a" * 25, "Ada\u200b", "A\x00da", "evil\u202e", None, 5, ["Ada"]]
    + ["Ada\nLovelace", "Ada\tL", "Ada\r", "\x0bAda", "Ada\x1f", "Ada\u0085", "Ada\u2028L", "Ada\u2029"],  # not spaces
)
def test_bad_display_names_are_refused(bad):
    with pytest.raises(RoomError) as error:
        rooms.display_name(bad)
    assert error.value.code == "bad_name"


def test_the_first_player_hosts_and_the_next_takes_over_when_they_leave():
    room = lobby("ada", "bob", "cy")
    assert room.host == "id-ada" and list(room.players.values()) == ["ada", "bob", "cy"]
    room.leave("id-ada")
    assert room.host == "id-bob"
    room.leave("id-bob")
    room.leave("id-cy")
    assert room.host is None and room.players == {}


def test_a_room_takes_at_most_eight_players_with_distinct_names():
    room = lobby(*[f"p{i}" for i in range(rooms.MAX_PLAYERS)])
    with pytest.raises(RoomError, match="already has 8") as error:
        room.join("id-late", "late")
    assert error.value.code == "room_full"
    room.leave("id-p0")
    with pytest.raises(RoomError) as error:
        room.join("id-other", "P1")
    assert error.value.code == "name_taken"
    room.join("id-p1", "p1")  # a player already in the room comes back
    assert len(room.players) == rooms.MAX_PLAYERS - 1


def test_only_the_host_starts_and_only_with_two_players():
    room = lobby("ada")
    with pytest.raises(RoomError) as error:
        room.start("id-ada", WORDS, 0)
    assert error.value.code == "too_few_players"
    room.join("id-bob", "bob")
    with pytest.raises(RoomError) as error:
        room.start("id-bob", WORDS, 0)
    assert error.value.code == "not_host"
    room.start("id-ada", WORDS, 1_000)
    assert (room.state, room.round, room.word) == ("playing", 1, "banana")
    with pytest.raises(RoomError) as error:
        room.join("id-cy", "cy")
    assert error.value.code == "game_started"


def test_the_first_recognized_scores_most_later_less_unrecognized_nothing():
    room = lobby("ada", "bob", "cy")
    room.start("id-ada", WORDS, -room.break_ms)  # the round itself begins at 0
    first = room.finish("id-bob", True, 2_000)
    second = room.finish("id-ada", True, 9_000)
    missed = room.finish("id-cy", False, 20_000)
    assert first.points > second.points > missed.points == 0
    assert (first.elapsed_ms, second.elapsed_ms, missed.elapsed_ms) == (2_000, 9_000, None)
    assert rooms.points(0, LIMIT) == rooms.MAX_POINTS and rooms.points(LIMIT, LIMIT) == rooms.MIN_POINTS
    assert room.finish("id-bob", False, 3_000) is None  # the first word counts
    assert room.scores() == {"id-ada": second.points, "id-bob": first.points, "id-cy": 0}


def test_a_recognition_after_the_clock_and_its_grace_scores_nothing():
    room = lobby("ada", "bob")
    room.start("id-ada", WORDS, -room.break_ms)
    assert room.finish("id-ada", True, LIMIT + rooms.GRACE_MS + 1).points == 0


def test_a_round_is_over_when_everyone_has_a_result_or_the_time_is_up():
    room = lobby("ada", "bob")
    room.start("id-ada", WORDS, -room.break_ms)
    room.finish("id-ada", True, 1_000)
    assert not room.round_over(1_000)
    assert room.round_over(LIMIT + rooms.GRACE_MS)  # bob never finished
    room.advance(LIMIT + rooms.GRACE_MS)
    assert room.results[0]["id-bob"] == rooms.Result(False)
    next_start = LIMIT + rooms.GRACE_MS + room.break_ms  # after a break with the round's drawings side by side
    assert (room.round, room.word, room.round_started_ms) == (2, "cat", next_start)
    room.finish("id-ada", False, 30_000)
    room.finish("id-bob", True, 30_000)
    assert room.round_over(30_000)


def test_six_rounds_then_the_scoreboard():
    room = lobby("ada", "bob")
    room.start("id-ada", WORDS, 0)
    for number in range(rooms.ROUNDS):
        room.finish("id-ada", True, number * 30_000 + 1_000)
        room.finish("id-bob", number % 2 == 0, number * 30_000 + 5_000)
        room.advance(number * 30_000 + 6_000)
    assert room.state == "over" and room.word is None and len(room.results) == rooms.ROUNDS
    scores = room.scores()
    assert scores["id-ada"] > scores["id-bob"] > 0
    assert room.finish("id-ada", True, 999_999) is None and not room.round_over(999_999)


def test_the_saved_drawing_id_arrives_after_the_result():
    room = lobby("ada", "bob")
    room.start("id-ada", WORDS, 0)
    room.finish("id-ada", True, 1_000)
    assert room.finish("id-ada", False, 1_500, drawing="20260102T030405-0123456789ab") is None
    assert room.results[0]["id-ada"].drawing == "20260102T030405-0123456789ab"
    assert room.results[0]["id-ada"].recognized


def test_a_room_survives_json():
    room = lobby("ada", "bob")
    room.start("id-ada", WORDS, 0)
    room.finish("id-bob", True, 3_000, drawing="d1")
    again = Room.from_json(room.to_json())
    assert again == room and again.scores() == room.scores()


def test_a_round_does_not_wait_for_a_player_who_is_gone():
    room = lobby("ada", "bob", "cy")
    room.start("id-ada", WORDS, -room.break_ms)
    room.finish("id-ada", True, 1_000)
    room.disconnect("id-bob", "socket-bob")
    assert room.away("id-bob") and not room.round_over(2_000)  # cy is still drawing
    room.finish("id-cy", False, 3_000)
    assert room.round_over(3_000)  # everyone connected has a result
    room.advance(3_000)
    assert room.results[0]["id-bob"] == rooms.Result(False)


def test_a_late_disconnect_of_an_old_socket_does_not_mark_a_player_away():
    room = lobby("ada", "bob")
    room.connect("id-bob", "socket-bob-again")  # bob's page came back on another socket ...
    room.disconnect("id-bob", "socket-bob")  # ... before the old socket's goodbye arrived
    assert not room.away("id-bob")
    room.disconnect("id-bob", "socket-bob-again")
    assert room.away("id-bob") and "id-bob" in room.players  # away, seat kept


def test_a_room_where_everyone_is_gone_waits_for_the_clock():
    room = lobby("ada", "bob")
    room.start("id-ada", WORDS, -room.break_ms)
    room.disconnect("id-ada", "socket-ada")
    room.disconnect("id-bob", "socket-bob")
    assert not room.round_over(1_000) and room.round_over(LIMIT + rooms.GRACE_MS)
