// One drawing on the server: start it, stream its strokes, end it, and replay it after a reconnect.

import * as messages from "./messages.js";

/**
 * Keeps the server's copy of the drawing in step with the canvas. Points and
 * strokes sent while offline are lost on the wire, so after a reconnect the
 * drawing is resumed under its id (saved once, whole) and every stroke is
 * replayed from the canvas; a server that cannot resume it starts it afresh.
 */
export class DrawingSession {
  constructor(connection, canvas, batcher) {
    this.connection = connection;
    this.canvas = canvas;
    this.batcher = batcher;
    this.active = null; // {mode, word} while a drawing is open on the server
    this.replaying = false; // the next "round" answers a replay, not a new drawing
    this.resumable = null; // {id, token}: what carries the open drawing on after a reconnect
    this.began = null; // when the drawing began on our clock (performance.now(), outages not counted)
    this.clears = 0; // clears sent: each has its own id, so its answer can be told apart
  }

  send(message) {
    return this.connection.send(message);
  }

  /** Begin a new drawing on the server. */
  start(mode, word = null) {
    this.batcher.drop();
    this.active = { mode, word };
    this.replaying = false;
    this.resumable = null;
    this.began = null;
    this.send(messages.start(mode, word));
  }

  /** The server opened (or carried on) the drawing: remember how to resume it. A drawing started again by a
   * server that could not carry it on keeps its start: its time runs on. */
  opened(round) {
    this.resumable = { id: round.id, token: round.resume_token };
    this.began ??= performance.now() - (round.elapsed_ms ?? 0);
  }

  /** Finish the drawing (the server saves it); `notify` false when the server already ended it. */
  end(notify = true) {
    if (!this.active) return;
    this.batcher.flush();
    if (notify) this.send(messages.end());
    this.active = null;
  }

  /** True when this "round" message answers a replay after reconnecting (and clears the flag). */
  takeReplay() {
    const was = this.replaying;
    this.replaying = false;
    return was;
  }

  /** The server is out of reach: the drawing's clock stops until `resume` (a reconnect). */
  pause() {
    this.pausedAt ??= performance.now();
  }

  resume() {
    if (this.pausedAt === undefined) return;
    if (this.began !== null) this.began += performance.now() - this.pausedAt; // the outage is not drawing time
    this.pausedAt = undefined;
  }

  /** After a reconnect: open the same drawing again and send every stroke drawn so far. */
  replay(resume = true) {
    if (!this.active) return;
    this.batcher.drop();
    const { mode, word } = this.active;
    this.replaying = true;
    const { id, token } = (resume && this.resumable) || {};
    if (!id) this.resumable = null;
    const elapsed = Math.max(0, Math.round(performance.now() - (this.began ?? performance.now())));
    this.send(messages.start(mode, word, id ? { resume: id, token, elapsed_ms: elapsed } : null));
    const strokes = this.canvas.snapshot();
    const open = this.canvas.drawing ? strokes.pop() : null;
    this.#sendStrokes(strokes, open);
  }

  #sendStrokes(strokes, open = null) {
    for (const message of messages.replay(strokes, open)) this.send(message);
  }

  // Canvas callbacks: only a drawing the server knows about streams.
  point(x, y, t) {
    if (this.active) this.batcher.add(x, y, t);
  }

  strokeEnd() {
    if (this.active) this.batcher.end();
  }

  undo() {
    if (this.active) this.send(messages.undo());
  }

  /** Clear the drawing on the server; returns the clear's id (its guess answers it), or null if none was sent. */
  clear() {
    this.batcher.drop();
    if (!this.active) return null;
    const id = `clear-${++this.clears}`;
    return this.send(messages.clear(id)) ? id : null;
  }

  /** A cleared drawing is back on the canvas (undo): the server gets its strokes again. */
  redraw(strokes) {
    if (this.active) this.#sendStrokes(strokes);
  }
}
