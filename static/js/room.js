// Play with friends: join a room, race on the same words, watch the others draw (docs/PROTOCOL.md, Rooms).

import { SketchCanvas } from "./canvas.js";
import { GuessPanel } from "./guesses.js";
import * as keep from "./keep.js";
import { Leaving } from "./leave.js";
import * as messages from "./messages.js";
import { PeerBoard } from "./peers.js";
import { label, politely, resultsLine, showPlayers, showScores, small, word } from "./roomviews.js";
import { Connection, PointBatcher, socketUrl } from "./socket.js";
import { drawingTools, edits } from "./tools.js";
import { Countdown, Notice, showConnection } from "./ui.js";

const $ = (id) => document.getElementById(id);
const root = $("room");
const sketch = $("sketch");

const notice = new Notice($("notice"));
const countdown = new Countdown($("timer"));
const guesses = new GuessPanel({
  list: $("guess-list"),
  line: $("guess-line"),
  shown: $("guess-shown"),
  strip: $("canvas-guess"),
  mode: "game",
});
const peers = new PeerBoard($("peers"));
const connection = new Connection(socketUrl(), {
  onMessage: (message) => dispatch(message),
  onOpen: () => rejoin(),
  onState: (state, detail) => showConnection($("connection"), state, detail),
});
const batcher = new PointBatcher((message) => connection.send(message));
const canvas = new SketchCanvas(sketch, {
  onPoint: (x, y, t) => drawing && batcher.add(x, y, t),
  onStrokeEnd: () => {
    if (!drawing) return;
    batcher.end();
    keepDrawing();
  },
});

let code = root.dataset.code || null;
let name = null; // what the player typed, until the room knows them
let room = null; // the newest "room" message
let limits = {}; // the server's limits, from "hello"
let drawing = null; // {id, token}: this player's open drawing in the current round (the token carries it on)
let drawnRound = 0; // the round the canvas (and the others' drawings) belong to
let kept = keep.drawing(code); // this tab's drawing from before a reload: put back once the room says its round
let carried = kept?.open ? { id: kept.id, token: kept.token } : null; // and carried on, by the join, under its id

/** (Re)connected: take the seat back (and the round's drawing with it), or join with the name given. */
function rejoin() {
  const held = keep.seat(code);
  if (held) {
    const open = drawing ?? carried;
    const resume = open ? { drawing: open.id, drawing_token: open.token } : {};
    connection.send({ type: "join", room: code, player: held.player, token: held.token, ...resume });
  } else if (name) {
    connection.send({ type: "join", name, ...(code ? { room: code } : {}) });
  }
}

/** Keep the round's drawing in this tab at every change, so that a reload puts it back and carries it on. */
function keepDrawing() {
  const state = canvas.state();
  sketch.dataset.strokes = String(state.strokes.length); // for the tests, as the others' canvases have
  sketch.dataset.points = String(state.strokes.reduce((sum, s) => sum + s[0].length, 0));
  if (!code || !drawnRound) return;
  const open = drawing ?? carried;
  const { id, token } = open ?? {};
  keep.keepDrawing(code, { player: room?.you, round: drawnRound, id, token, open: Boolean(open), ...state });
}

function forget() {
  keep.forgetSeat(code);
  keep.forgetDrawing(code);
  kept = carried = null;
}

// Leave for good: from the lobby at once, mid-game after a confirmation; the seat is forgotten on the answer.
const leaving = new Leaving({
  send: (message) => connection.send(message),
  gone: () => {
    forget();
    location.assign("/room");
  },
  dialog: $("quit-dialog"),
});

$("join-form").addEventListener("submit", (event) => {
  event.preventDefault();
  name = $("name").value;
  rejoin();
});
$("room-start").addEventListener("click", () => connection.send({ type: "room_start" }));
$("room-leave").addEventListener("click", () => leaving.now());
$("room-quit").addEventListener("click", () => leaving.ask());

drawingTools({
  canvas,
  guesses,
  canEdit: () => Boolean(drawing),
  server: edits((message) => connection.send(message), batcher, () => limits.max_points_per_message),
  undoButton: $("undo"),
  clearButton: $("clear"),
  changed: keepDrawing,
});

// A stroke racing the end of the drawing (recognized, time's up): nothing changed, nothing for the player to do.
const QUIET = new Set(["drawing_ended", "no_drawing", "no_stroke"]);

function dispatch(message) {
  switch (message.type) {
    case "hello":
      limits = message.limits ?? {};
      break;
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
      if (message.drawing === drawing?.id) guesses.accept(message);
      break;
    case "recognized":
      if (message.drawing === drawing?.id) finish(`Oh, I know, it's ${message.word}!`, "good");
      break;
    case "timeout":
      if (message.drawing === drawing?.id) finish(guesses.leads() ? "Time's up: so close, my top guess!" : "Time's up!", "bad");
      break;
    case "peer_drawing":
      reached(message.round);
      if (peers.draw(message)) peers.render(room);
      break;
    case "peer_guess":
      reached(message.round);
      if (peers.guess(message)) peers.render(room);
      break;
    case "error":
      onError(message);
      break;
    default:
      throw new Error(`Unknown message type from the server: ${JSON.stringify(message.type)}`);
  }
}

function onError(message) {
  guesses.refused(message.reply_to ?? null);
  if (QUIET.has(message.code)) {
    console.info(`Refused, nothing changed: ${message.code}`);
    return;
  }
  if (message.code === "bad_seat" || (message.code === "no_room" && keep.seat(code))) {
    forget(); // the seat is gone: join again by name
    show("join");
  }
  notice.show(politely(message, $("name").maxLength), { tone: "bad", ms: 6000 });
}

function show(state) {
  root.dataset.state = state;
  for (const part of ["rejoin", "join", "lobby", "play", "over"]) $(part).hidden = part !== state;
}

function onRoom(message) {
  if (room && message.code === room.code && message.version < room.version) return; // older news
  if (leaving.answered(message)) return;
  const newRound = !room || message.round !== room.round || message.state !== room.state;
  room = message;
  code = message.code;
  root.dataset.player = message.you;
  if (message.players.some((p) => p.id === message.you)) keep.keepSeat(code, message.you, message.token);
  if (location.pathname !== `/room/${code}`) history.replaceState(null, "", `/room/${code}`);
  if (message.state !== "playing") {
    keep.forgetDrawing(code);
    kept = carried = null;
    return message.state === "lobby" ? showLobby() : showOver();
  }
  if (newRound) {
    drawing = null; // the last round's drawings stay up through the break, side by side
    canvas.setEnabled(false);
    countdown.hide();
  }
  if (kept) putBack();
  show("play");
  const me = message.players.find((p) => p.id === message.you);
  const score = Object.assign(small(`· ${me?.score ?? 0} points`), { id: "my-score" });
  const shown = [label("Draw:"), " ", word(message.word), " ", small(`${message.round}/${message.rounds}`), " ", score];
  $("prompt").replaceChildren(...shown);
  $("play-title").textContent = `Room ${message.code}: round ${message.round} of ${message.rounds}`;
  const last = message.results.length > 1 && message.starts_in_ms > 0 ? message.results.at(-2) : null;
  if (!drawing && message.starts_in_ms > 0) banner(`${last ? resultsLine(room, last) + " · " : ""}Next: ${message.word}`);
  peers.render(room);
}

/** After a reload: the round's drawing goes back on the canvas; the `round` answer sends it to the server. */
function putBack() {
  const strokes = kept;
  kept = null;
  if (strokes.round !== room.round || room.starts_in_ms > 0) {
    carried = null; // a round that is over
    return;
  }
  enterRound(room.round);
  canvas.restore(strokes);
  keepDrawing();
}

/** The canvas and the others' drawings move on to round `number` (once): all empty. */
function enterRound(number) {
  if (number === drawnRound) return;
  drawnRound = number;
  peers.reset(number);
  peers.render(room);
  canvas.clear();
  batcher.drop();
  guesses.reset();
  guesses.setTarget(room.word);
  hideBanner();
  keepDrawing();
}

/** The others' drawings of the room's current round arrive before this player's own: the round has begun. */
function reached(round) {
  if (room?.state === "playing" && round === room.round) enterRound(round);
}

/**
 * The room opened this player's drawing: in a new round on an empty canvas; in the same round (after a
 * reconnect or a reload) the server's copy starts empty, and so do the others' views of it (the server
 * clears them), so the strokes on the canvas go to it again.
 */
function onDrawing(message) {
  if (message.mode !== "room") return;
  carried = null;
  enterRound(room.round);
  drawing = { id: message.id, token: message.resume_token };
  hideBanner();
  guesses.reset(); // a new socket counts its guesses from 1 again
  guesses.setTarget(message.word);
  const strokes = canvas.snapshot();
  const open = canvas.drawing ? strokes.pop() : null;
  if (strokes.length || open) {
    batcher.drop(); // what it held is in `open`
    for (const m of messages.replay(strokes, open, limits.max_points_per_message)) connection.send(m);
  }
  canvas.setEnabled(true);
  if (document.activeElement === document.body) canvas.focus(); // focus that was lost (a tool disabled) comes here
  keepDrawing();
  countdown.start(Math.max(0, message.time_limit_s - (message.elapsed_ms ?? 0) / 1000)); // the round's clock
}

function finish(text, tone) {
  batcher.drop(); // the server has ended the drawing: points not sent yet would only be refused
  drawing = null;
  canvas.setEnabled(false);
  keepDrawing();
  countdown.stop(tone === "bad");
  banner(text, tone);
}

function showLobby() {
  show("lobby");
  showPlayers(room);
}

function showOver() {
  show("over");
  countdown.hide();
  showScores(room);
}

/** News over the canvas (a verdict, the round's results, the next word): shown there, said on the line. */
function banner(text, tone = "") {
  const element = $("banner");
  element.textContent = text;
  element.dataset.tone = tone;
  element.hidden = false;
  guesses.say(text, { hold: true }); // the banner is for the eyes; the line says it, at once, and keeps it
}

function hideBanner() {
  $("banner").hidden = true;
}

/** Take this tab's seat back (a reload) or a closed tab's (the room's link again), else ask for a name. */
async function main() {
  if (code) $("rejoin-code").textContent = code;
  show(keep.known(code) ? "rejoin" : "join");
  const held = await keep.findSeat(code);
  if (!held) show("join");
  if (kept?.player !== held?.player) kept = carried = null; // another seat's drawing (a duplicated tab)
  connection.connect(); // on open, rejoin() takes the seat (and the round's drawing) back
}

main();
