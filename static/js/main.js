// Wires the page together: canvas → session → socket, server messages → guesses and game flow.

import { SketchCanvas } from "./canvas.js";
import { FreeDraw } from "./free.js";
import { Game } from "./game.js";
import { GuessPanel } from "./guesses.js";
import { DrawingSession } from "./session.js";
import { Connection, PointBatcher, socketUrl } from "./socket.js";
import { drawingTools } from "./tools.js";
import { Card, Countdown, Notice, intro, showConnection } from "./ui.js";

const $ = (id) => document.getElementById(id);
const play = $("play");
const mode = play.dataset.mode === "free" ? "free" : "game";

const guesses = new GuessPanel({
  list: $("guess-list"),
  line: $("guess-line"),
  shown: $("guess-shown"),
  strip: $("canvas-guess"),
  speechToggle: $("speech-toggle"),
  mode,
});
const notice = new Notice($("notice"));
const connection = new Connection(socketUrl(), {
  onMessage: (message) => dispatch(message),
  onOpen: () => session.replay(),
  onIdle: () => controller.onIdle(),
  onState: (state, detail) => {
    showConnection($("connection"), state, detail, $("retry-now"));
    if (state === "open") {
      session.resume();
      controller.onOnline?.();
    } else if (state !== "connecting") {
      session.pause(); // an outage costs the player no time
      controller.onOffline?.();
    }
  },
});
const batcher = new PointBatcher((message) => connection.send(message));
const hint = $("canvas-hint");
const canvas = new SketchCanvas($("sketch"), {
  onStrokeStart: () => (hint.hidden = true),
  onEmpty: (empty) => (hint.hidden = !empty),
  onPoint: (x, y, t) => session.point(x, y, t),
  onStrokeEnd: () => session.strokeEnd(),
});
const session = new DrawingSession(connection, canvas, batcher);
const card = new Card($("overlay"));
const controller =
  mode === "free"
    ? new FreeDraw({ session, canvas, guesses, notice, card, intro })
    : new Game({
        session,
        canvas,
        guesses,
        card,
        intro,
        countdown: new Countdown($("timer")),
        prompt: $("prompt"),
        summary: $("summary"),
        timeLimit: Number(play.dataset.timeLimit) || 20,
      });

// A stroke racing the end of a drawing: the server changed nothing, and the player has nothing to do about it.
const QUIET_ERRORS = new Set(["no_drawing", "no_stroke", "drawing_ended"]);
let drawingId = null; // the drawing on the server that guesses must be about

function politely(error) {
  if (error.code === "save_failed") return "Sorry, your drawing could not be saved this time. The game goes on.";
  return `Sorry, the server could not use that: ${error.message ?? error.code}.`;
}

/** Route one server message; unknown types are a bug somewhere, so say so loudly. */
function dispatch(message) {
  switch (message.type) {
    case "hello": // the server's words and limits: the page keeps to the defaults in messages.js
    case "pong":
      break;
    case "round":
      drawingId = message.id;
      session.opened(message);
      guesses.reset(); // a new drawing on the server: its seq numbers start over
      controller.onRound(message);
      break;
    case "guess":
      if (message.drawing === drawingId && guesses.accept(message)) controller.onGuess(message);
      break;
    case "recognized":
      controller.onRecognized(message);
      break;
    case "timeout":
      controller.onTimeout(message);
      break;
    case "saved":
      controller.onSaved(message);
      break;
    case "not_saved":
      if (message.reason === "save_failed") notice.show(politely({ code: "save_failed" }), { tone: "bad" });
      break;
    case "closing":
      console.info(`The server is closing the socket (${message.code}: ${message.reason})`);
      break;
    case "error":
      console.warn("Server error", message);
      guesses.refused(message.reply_to ?? null);
      if (message.code === "bad_resume") {
        session.replay(false); // this server cannot carry the drawing on: it starts again, strokes and all
        break;
      }
      if (!QUIET_ERRORS.has(message.code)) notice.show(politely(message), { tone: "bad" });
      break;
    default:
      throw new Error(`Unknown message type from the server: ${JSON.stringify(message.type)}`);
  }
}

// A player back from idling: any touch, click or key reopens the socket.
for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, () => connection.wake(), true);

drawingTools({
  canvas,
  guesses,
  canEdit: () => controller.canEdit,
  server: { undo: () => session.undo(), clear: () => session.clear(), redraw: (strokes) => session.redraw(strokes) },
  undoButton: $("undo"),
  clearButton: $("clear"),
});
$("retry-now").addEventListener("click", () => connection.retryNow());
$("new-drawing")?.addEventListener("click", () => controller.newDrawing());
$("skip")?.addEventListener("click", () => controller.skip());

connection.connect();
controller.begin();
