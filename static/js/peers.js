// The other players of a room round: their drawings as they draw, the network's guess, who is away.

import { renderThumbnail } from "./canvas.js";
import { percent } from "./guesses.js";

const SIZE = 120; // CSS pixels of a peer's canvas

/** What the others draw in one round, built from their `peer_drawing` ops and shown as a list of thumbnails. */
export class PeerBoard {
  constructor(list) {
    this.list = list;
    this.round = 0; // the round shown; ops of any other round are old news (or early) and ignored
    this.peers = new Map(); // player id → {strokes, current, guess}
  }

  /** A new round: every canvas starts empty. */
  reset(round) {
    this.round = round;
    this.peers.clear();
    this.list.replaceChildren();
  }

  #peer(player) {
    if (!this.peers.has(player)) this.peers.set(player, { strokes: [], current: null, guess: null });
    return this.peers.get(player);
  }

  /** Apply a `peer_drawing`; false when it is about another round. A rejoin's copy starts with `clear`. */
  draw(message) {
    if (message.round !== this.round) return false;
    const state = this.#peer(message.player);
    for (const [op, xs, ys] of message.ops) {
      if (op === "points") {
        state.current ??= [[], []];
        state.current[0].push(...xs);
        state.current[1].push(...ys);
      } else if (op === "stroke_end" && state.current) {
        state.strokes.push(state.current);
        state.current = null;
      } else if (op === "undo") {
        if (state.current) state.current = null;
        else state.strokes.pop();
      } else if (op === "clear") {
        state.strokes = [];
        state.current = null;
      }
    }
    return true;
  }

  /** Apply a `peer_guess`; false when it is about another round. */
  guess(message) {
    if (message.round !== this.round) return false;
    this.#peer(message.player).guess = message.guesses[0] ?? null;
    return true;
  }

  /** Show every other player of `room`: name, score, away or recognized, their drawing and the net's guess. */
  render(room) {
    const others = room.players.filter((p) => p.id !== room.you);
    const result = room.results[this.round - 1] ?? {}; // in the break, the round just played
    for (const p of others) {
      let item = this.list.querySelector(`[data-player="${CSS.escape(p.id)}"]`);
      if (!item) {
        item = document.createElement("li");
        item.className = "peer";
        item.dataset.player = p.id;
        item.innerHTML = '<canvas class="thumb" role="img"></canvas><span class="peer-name"></span><span class="peer-guess"></span>';
        this.list.append(item);
      }
      const state = this.#peer(p.id);
      const done = result[p.id];
      item.classList.toggle("good", Boolean(done?.recognized));
      item.classList.toggle("away", Boolean(p.away));
      const note = `${p.away ? " (away)" : ""} · ${p.score}${done?.recognized ? " ✓" : ""}`;
      item.querySelector(".peer-name").textContent = p.name + note;
      const guess = state.guess ? `${state.guess.word} ${percent(state.guess.p)}` : "";
      item.querySelector(".peer-guess").textContent = guess;
      const shown = state.current ? [...state.strokes, state.current] : state.strokes;
      const thumb = item.querySelector("canvas");
      thumb.setAttribute("aria-label", `${p.name}'s drawing${p.away ? " (away)" : ""}`);
      thumb.dataset.strokes = String(state.strokes.length);
      thumb.dataset.points = String(state.strokes.reduce((sum, s) => sum + s[0].length, 0));
      renderThumbnail(thumb, shown, SIZE);
    }
    for (const item of this.list.querySelectorAll("[data-player]")) {
      if (!others.some((p) => p.id === item.dataset.player)) item.remove();
    }
  }
}
