// What a room page builds from a "room" message besides the race: players, results, the rounds played, and the
// words for the room's refusals.

const $ = (id) => document.getElementById(id);
const MIN_PLAYERS = 2; // the server's rule (too_few_players): the start button waits for a friend

export const label = (text) => element("span", "prompt-label", text);
export const word = (text) => element("strong", "prompt-word", text);
export const small = (text) => element("span", "prompt-round", text);

function element(tag, className, textContent) {
  return Object.assign(document.createElement(tag), { className, textContent });
}

/** A player's line: the name, "(you)", "(away)" (their socket is gone: said, not only greyed), and a note. */
export function playerItem(room, p, note = "") {
  const item = document.createElement("li");
  item.classList.toggle("away", Boolean(p.away));
  item.append(element("strong", "", p.name));
  if (p.id === room.you) item.append(" (you)");
  if (p.away) item.append(" (away)");
  if (note) item.append(" ", small(note));
  return item;
}

const verdict = (name, result) => `${name ?? "someone"} ${result.recognized ? `✓ ${result.points}` : "✗"}`;

/** One round's results in a line: "Ada ✓ 87, Bob ✗". */
export function resultsLine(room, rnd) {
  const names = new Map(room.players.map((p) => [p.id, p.name]));
  return Object.entries(rnd)
    .map(([player, result]) => verdict(names.get(player), result))
    .join(", ");
}

/** Every round played: its word, then each player's drawing (linked once saved) and verdict. */
export function roundItems(room) {
  const names = new Map(room.players.map((p) => [p.id, p.name]));
  return room.results.map((rnd, i) => {
    const item = document.createElement("li");
    item.append(word(room.words?.[i] ?? `Round ${i + 1}`), " ");
    for (const [player, result] of Object.entries(rnd)) {
      const part = document.createElement(result.drawing ? "a" : "span");
      part.className = `room-result ${result.recognized ? "good" : "bad"}`;
      if (result.drawing) {
        part.href = `/drawing/${encodeURIComponent(result.drawing)}`;
        const picture = Object.assign(document.createElement("img"), { width: 96, height: 96, alt: "" });
        picture.src = `/gallery/${encodeURIComponent(result.drawing)}.png`;
        part.append(picture);
      }
      part.append(element("span", "verdict", verdict(names.get(player), result)));
      item.append(part, " ");
    }
    return item;
  });
}

/** The lobby: the room's code and link, who is in, and the start button for the host. */
export function showPlayers(room) {
  $("room-code").textContent = room.code;
  const link = $("room-link");
  link.href = link.textContent = `${location.origin}/room/${room.code}`;
  $("lobby-players").replaceChildren(...room.players.map((p) => playerItem(room, p, p.id === room.host ? "host" : "")));
  const host = room.host === room.you;
  const few = room.players.length < MIN_PLAYERS;
  $("room-start").hidden = !host;
  $("room-start").disabled = few;
  $("lobby-hint").textContent = host ? (few ? "Waiting for a friend to join…" : "") : "The host starts the game.";
}

/** The game is over: the scoreboard and every round, focus on its heading. */
export function showScores(room) {
  const ranked = [...room.players].sort((a, b) => b.score - a.score);
  $("scoreboard").replaceChildren(...ranked.map((p) => playerItem(room, p, `${p.score} points`)));
  $("rounds").replaceChildren(...roundItems(room));
  $("over-title").focus();
}

/** What a room's refusal says to the player; `maxName` is the server's limit on a name, as the page has it. */
export function politely(error, maxName) {
  const polite = {
    no_room: "There is no room with this code any more. Create a new one?",
    room_full: "This room is full.",
    name_taken: "Someone in this room has that name already: pick another.",
    bad_name: `A name has 1 to ${maxName} visible characters.`,
    game_started: "This room's game has started already.",
    bad_seat: "Your seat in this room is gone: join it again.",
    rooms_unavailable: "Rooms are unavailable right now. The single-player game still works.",
  };
  return polite[error.code] ?? `Sorry: ${error.message}`;
}
