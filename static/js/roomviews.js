// What a room page builds from a "room" message besides the race: players, results, the rounds played.

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
