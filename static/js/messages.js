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
export const clear = () => ({ type: "clear" });
export const end = () => ({ type: "end" });

/** The "points" messages that carry [x, y, t] in batches of at most BATCH_POINTS. */
export function batches([x, y, t]) {
  const messages = [];
  for (let i = 0; i < x.length; i += BATCH_POINTS) {
    messages.push(points(x.slice(i, i + BATCH_POINTS), y.slice(i, i + BATCH_POINTS), t.slice(i, i + BATCH_POINTS)));
  }
  return messages;
}
