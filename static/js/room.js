// Play with friends: join a room, race on the same words, watch the others draw (docs/PROTOCOL.md, Rooms).

import { renderThumbnail, SketchCanvas } from "./canvas.js";
import { GuessPanel, percent } from "./guesses.js";
import * as messages from "./messages.js";
import { Connection, PointBatcher, socketUrl } from "./socket.js";
import { Countdown, Notice, showConnection } from "./ui.js";

const $ = (id) => document.getElementById(id);
const root = $("room");
const SEAT = "quickdraw.seat."; // + room code: {player, token}, to take the seat back after a reconnect
const PEER_SIZE = 120; // CSS pixels of a peer's canvas

const notice = new Notice($("notice"));
const countdown = new Countdown($("timer"));
const guesses = new GuessPanel({ list: $("guess-list"), line: $("guess-line"), strip: $("canvas-guess"), mode: "game" });
const connection = new Connection(socketUrl(), {
  onMessage: (message) => dispatch(message),
  onOpen: () => rejoin(),
  onState: (state, detail) => showConnection($("connection"), state, detail),
});
const batcher = new PointBatcher((message) => connection.send(message));
const canvas = new SketchCanvas($("sketch"), {
  onPoint: (x, y, t) => drawing && batcher.add(x, y, t),
  onStrokeEnd: () => drawing && batcher.end(),
});

let code = root.dataset.code || null;
let name = null; // what the player typed, until the room knows them
let room = null; // the newest "room" message
let drawing = null; // the id of this player's open drawing in the current round
let drawingToken = null; // its resume_token: after a reconnect the drawing carries on under the same id
let drawnRound = 0; // the round the canvas holds
const peers = new Map(); // player id → {strokes, current, guess}

function seat() {
  return code ? JSON.parse(sessionStorage.getItem(SEAT + code) ?? "null") : null;
}

/** (Re)connected: take the seat back (and the round's drawing with it), or join with the name given. */
function rejoin() {
  const held = seat();
  if (held) {
    const carried = drawing ? { drawing, drawing_token: drawingToken } : {};
    connection.send({ type: "join", room: code, player: held.player, token: held.token, ...carried });
  } else if (name) {
    connection.send({ type: "join", name, ...(code ? { room: code } : {}) });
  }
}

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  name = $("name").value;
  rejoin();
});
$("room-start").addEventListener("click", () => connection.send({ type: "room_start" }));
$("room-leave").addEventListener("click", () => {
  connection.send({ type: "leave" });
  sessionStorage.removeItem(SEAT + code);
  location.assign("/room");
});
$("undo").addEventListener("click", () => drawing && canvas.undo() && connection.send(messages.undo()));
$("clear").addEventListener("click", () => {
  if (!drawing || canvas.drawing) return;
  canvas.clear();
  batcher.drop();
  connection.send(messages.clear());
});

const POLITE = {
  no_room: "There is no room with this code any more. Create a new one?",
  room_full: "This room is full (8 players).",
  name_taken: "Someone in this room has that name already: pick another.",
  bad_name: "A name has 1 to 24 visible characters.",
  game_started: "This room's game has started already.",
  rooms_unavailable: "Rooms are unavailable right now. The single-player game still works.",
};

function dispatch(message) {
  switch (message.type) {
    case "hello":
    case "pong":
    case "closing":
    case "saved":
    case "not_saved":
      break;
    case "room":
      onRoom(message);
      break;
    case "round":
      onDrawing(message);
      break;
    case "guess":
      if (message.drawing === drawing) guesses.accept(message);
      break;
    case "recognized":
      if (message.drawing === drawing) finish(`Oh, I know, it's ${message.word}!`, "good");
      break;
    case "timeout":
      if (message.drawing === drawing) finish("Time's up!", "bad");
      break;
    case "peer_drawing":
      onPeerDrawing(message);
      break;
    case "peer_guess":
      if (message.round === drawnRound) peer(message.player).guess = message.guesses[0] ?? null;
      renderPeers();
      break;
    case "error":
      if (message.code === "bad_seat") {
        sessionStorage.removeItem(SEAT + code); // the seat is gone: join again by name
        show("join");
      }
      notice.show(POLITE[message.code] ?? `Sorry: ${message.message}`, { tone: "bad", ms: 6000 });
      break;
    default:
      throw new Error(`Unknown message type from the server: ${JSON.stringify(message.type)}`);
  }
}

function show(state) {
  root.dataset.state = state;
  for (const part of ["join", "lobby", "play", "over"]) $(part).hidden = part !== state;
}

function onRoom(message) {
  if (room && message.code === room.code && message.version < room.version) return; // older news
  const newRound = !room || message.round !== room.round || message.state !== room.state;
  room = message;
  code = message.code;
  if (message.players.some((p) => p.id === message.you)) {
    sessionStorage.setItem(SEAT + code, JSON.stringify({ player: message.you, token: message.token }));
  }
  if (location.pathname !== `/room/${code}`) history.replaceState(null, "", `/room/${code}`);
  if (message.state === "lobby") return showLobby();
  if (message.state === "over") return showOver();
  if (newRound) {
    drawing = null; // the last round's drawings stay up through the break, side by side
    canvas.setEnabled(false);
    countdown.hide();
  }
  show("play");
  $("prompt").replaceChildren(label("Draw:"), " ", word(message.word), " ", small(`${message.round}/${message.rounds}`));
  const last = message.results.length > 1 && message.starts_in_ms > 0 ? message.results.at(-2) : null;
  if (!drawing && message.starts_in_ms > 0) banner(`${last ? results(last) + " · " : ""}Next: ${message.word}`);
  renderPeers();
}

function showLobby() {
  show("lobby");
  $("room-code").textContent = room.code;
  const link = $("room-link");
  link.href = link.textContent = `${location.origin}/room/${room.code}`;
  $("lobby-players").replaceChildren(...room.players.map((p) => playerItem(p, p.id === room.host ? "host" : "")));
  const host = room.host === room.you;
  $("room-start").hidden = !host;
  $("room-start").disabled = room.players.length < 2;
  $("lobby-hint").textContent = host
    ? room.players.length < 2
      ? "Waiting for a friend to join…"
      : ""
    : "The host starts the game.";
}

function showOver() {
  show("over");
  countdown.hide();
  const ranked = [...room.players].sort((a, b) => b.score - a.score);
  $("scoreboard").replaceChildren(...ranked.map((p) => playerItem(p, `${p.score} points`)));
  const names = new Map(room.players.map((p) => [p.id, p.name]));
  $("rounds").replaceChildren(
    ...room.results.map((rnd, i) => {
      const item = document.createElement("li");
      item.append(word(room.words?.[i] ?? `Round ${i + 1}`), " ");
      for (const [player, result] of Object.entries(rnd)) {
        const part = document.createElement(result.drawing ? "a" : "span");
        part.className = `room-result ${result.recognized ? "good" : "bad"}`;
        const who = `${names.get(player) ?? "someone"} ${result.recognized ? `✓ ${result.points}` : "✗"}`;
        if (result.drawing) {
          part.href = `/drawing/${encodeURIComponent(result.drawing)}`;
          const picture = Object.assign(document.createElement("img"), { width: 96, height: 96, alt: "" });
          picture.src = `/gallery/${encodeURIComponent(result.drawing)}.png`;
          part.append(picture);
        }
        part.append(Object.assign(document.createElement("span"), { className: "verdict", textContent: who }));
        item.append(part, " ");
      }
      return item;
    }),
  );
  $("over-title").focus();
}

/** The room opened this player's drawing: a new round clears the canvas; a reopened one gets its strokes again. */
function onDrawing(message) {
  if (message.mode !== "room") return;
  drawing = message.id;
  drawingToken = message.resume_token;
  hideBanner();
  if (room.round !== drawnRound) {
    drawnRound = room.round;
    peers.clear();
    $("peers").replaceChildren();
    canvas.clear();
    batcher.drop();
    guesses.reset();
    guesses.setTarget(message.word);
  } else {
    for (const [x, y, t] of canvas.snapshot()) connection.send(messages.stroke(x, y, t)); // after a reconnect
  }
  canvas.setEnabled(true);
  countdown.start(message.time_limit_s - (message.elapsed_ms ?? 0) / 1000, () => {});
}

function finish(text, tone) {
  batcher.flush();
  drawing = null;
  canvas.setEnabled(false);
  countdown.stop(tone === "bad");
  banner(text, tone);
}

function peer(player) {
  if (!peers.has(player)) peers.set(player, { strokes: [], current: null, guess: null });
  return peers.get(player);
}

function onPeerDrawing(message) {
  if (message.round !== drawnRound) return;
  const state = peer(message.player);
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
  renderPeers();
}

function renderPeers() {
  if (!room) return;
  const list = $("peers");
  const others = room.players.filter((p) => p.id !== room.you);
  const result = room.results[drawnRound - 1] ?? {}; // in the break, the round just played
  for (const p of others) {
    let item = list.querySelector(`[data-player="${CSS.escape(p.id)}"]`);
    if (!item) {
      item = document.createElement("li");
      item.className = "peer";
      item.dataset.player = p.id;
      item.innerHTML = '<canvas class="thumb" role="img"></canvas><span class="peer-name"></span><span class="peer-guess"></span>';
      list.append(item);
    }
    const state = peer(p.id);
    const done = result[p.id];
    item.classList.toggle("good", Boolean(done?.recognized));
    item.querySelector(".peer-name").textContent = `${p.name} · ${p.score}${done?.recognized ? " ✓" : ""}`;
    item.querySelector(".peer-guess").textContent = state.guess ? `${state.guess.word} ${percent(state.guess.p)}` : "";
    const shown = state.current ? [...state.strokes, state.current] : state.strokes;
    const thumb = item.querySelector("canvas");
    thumb.setAttribute("aria-label", `${p.name}'s drawing`);
    thumb.dataset.strokes = String(state.strokes.length);
    renderThumbnail(thumb, shown, PEER_SIZE);
  }
  for (const item of list.querySelectorAll("[data-player]")) {
    if (!others.some((p) => p.id === item.dataset.player)) item.remove();
  }
}

function results(rnd) {
  const names = new Map(room.players.map((p) => [p.id, p.name]));
  return Object.entries(rnd)
    .map(([player, r]) => `${names.get(player) ?? "someone"} ${r.recognized ? `✓ ${r.points}` : "✗"}`)
    .join(", ");
}

function banner(text, tone = "") {
  const element = $("banner");
  element.textContent = text;
  element.dataset.tone = tone;
  element.hidden = false;
}

function hideBanner() {
  $("banner").hidden = true;
}

function playerItem(p, note) {
  const item = document.createElement("li");
  item.append(Object.assign(document.createElement("strong"), { textContent: p.name }));
  if (p.id === room.you) item.append(" (you)");
  if (note) item.append(" ", small(note));
  return item;
}

const label = (text) => Object.assign(document.createElement("span"), { className: "prompt-label", textContent: text });
const word = (text) => Object.assign(document.createElement("strong"), { className: "prompt-word", textContent: text });
const small = (text) => Object.assign(document.createElement("span"), { className: "prompt-round", textContent: text });

document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z" && drawing && canvas.undo()) {
    event.preventDefault();
    connection.send(messages.undo());
  }
});

if (seat()) name = null; // a seat in this tab already: the socket takes it back on open
show("join");
connection.connect();
