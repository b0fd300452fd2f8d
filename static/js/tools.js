// The drawing tools both pages share: Undo (Ctrl/Cmd+Z) and Clear (Esc or Delete), and Clear can be undone.

import * as messages from "./messages.js";

/**
 * Wire the Undo and Clear buttons and keys to `canvas`. `canEdit()` says whether the drawing takes edits now;
 * `server` keeps the server's copy in step: `undo()`, `clear()` (returns the clear's id, or null if none was
 * sent) and `redraw(strokes)` (a cleared drawing is back: its strokes again). `changed()` runs after each edit.
 */
export function drawingTools({ canvas, guesses, canEdit, server, undoButton, clearButton, changed = () => {} }) {
  function undo() {
    if (!canEdit()) return;
    const undone = canvas.undo();
    if (undone === "stroke") server.undo();
    else if (undone === "clear") server.redraw(canvas.snapshot());
    if (undone) changed();
  }

  /** Clear the drawing, undoably; the guesses and the line say so at once, not when the server answers. */
  function clear() {
    if (!canEdit() || !canvas.wipe()) return;
    guesses.cleared(server.clear());
    changed();
  }

  undoButton.addEventListener("click", undo);
  clearButton.addEventListener("click", clear);
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.target.closest?.("input, textarea, [contenteditable], dialog")) return;
    if ((event.ctrlKey || event.metaKey) && !event.shiftKey && !event.altKey && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    } else if ((event.key === "Escape" || event.key === "Delete") && !event.ctrlKey && !event.metaKey) {
      clear();
    }
  });
}

/** The tools' `server` for a page that sends its edits itself (a room): `send(message)` → false if not sent;
 * `batcher` holds the open stroke's points; `limit()` is the server's points per message. */
export function edits(send, batcher, limit) {
  let clears = 0; // each clear has its own id: its guess answers it
  return {
    undo: () => send(messages.undo()),
    clear: () => {
      batcher.drop();
      const id = `clear-${++clears}`;
      return send(messages.clear(id)) ? id : null;
    },
    redraw: (strokes) => {
      for (const message of messages.replay(strokes, null, limit())) send(message);
    },
  };
}
