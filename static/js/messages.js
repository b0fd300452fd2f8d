// Every message the page sends to the server, built in one place (docs/PROTOCOL.md).

// The version of the contract this page speaks (the WebSocket subprotocol it asks for).
export const SUBPROTOCOL = "quickdraw.v1";

// The server's default limits (core/sketch.py, Limits): a message never carries more points than this.
export const MAX_POINTS_PER_MESSAGE = 1024;
// Points go out in batches far below that: smooth for the server, cheap for the network.
export const BATCH_POINTS = 200;

/** `resume`: {resume: id, token, elapsed_ms} to carry a drawing on after a reconnect (same id, saved once). */
export const start = (mode, word = null, resume = null) => ({
  type: "start",
  mode,
  ...(word ? { word } : {}),
  ...(resume ?? {}),
});
export const points = (x, y, t) => ({ type: "points", x, y, t });
export const stroke = (x, y, t) => ({ type: "stroke", x, y, t });
export const strokeEnd = () => ({ type: "stroke_end" });
export const undo = () => ({ type: "undo" });
export const clear = (id = null) => ({ type: "clear", ...(id ? { id } : {}) });
export const end = () => ({ type: "end" });

/**
 * The messages that send a drawing's strokes again (after a reconnect or a reload): a `stroke` each, or
 * `points` batches and a `stroke_end` for one longer than `limit` points (the server's points per message);
 * an `open` stroke, still being drawn, goes as points only: its end comes when the pointer lifts.
 */
export function replay(strokes, open = null, limit = MAX_POINTS_PER_MESSAGE) {
  const messages = [];
  const size = Math.min(BATCH_POINTS, limit);
  for (const [x, y, t] of strokes) {
    if (x.length <= limit) messages.push(stroke(x, y, t));
    else messages.push(...batches([x, y, t], size), strokeEnd());
  }
  if (open) messages.push(...batches(open, size));
  return messages;
}

/** The "points" messages that carry [x, y, t] in batches of at most `size` points. */
export function batches([x, y, t], size = BATCH_POINTS) {
  const messages = [];
  for (let i = 0; i < x.length; i += size) {
    messages.push(points(x.slice(i, i + size), y.slice(i, i + size), t.slice(i, i + size)));
  }
  return messages;
}
