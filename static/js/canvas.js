// The drawing surface: Pointer Events in, strokes out as plain data [[xs], [ys], [ts]].

const INK = "#1d1d1f";
const LINE_WIDTH = 5; // CSS pixels, like a felt pen on a phone or laptop screen

/** Trace one stroke as a smooth path: quadratic curves through the midpoints. */
function traceStroke(ctx, xs, ys) {
  const n = xs.length;
  ctx.beginPath();
  ctx.moveTo(xs[0], ys[0]);
  if (n === 1) {
    ctx.lineTo(xs[0] + 0.01, ys[0]); // a tap leaves a round dot
  }
  for (let i = 1; i < n - 1; i++) {
    ctx.quadraticCurveTo(xs[i], ys[i], (xs[i] + xs[i + 1]) / 2, (ys[i] + ys[i + 1]) / 2);
  }
  if (n > 1) ctx.lineTo(xs[n - 1], ys[n - 1]);
  ctx.stroke();
}

function setPen(ctx, width) {
  ctx.strokeStyle = INK;
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
}

/**
 * Draw `strokes` scaled to fit a `size`×`size` box (CSS pixels) on `canvas`, e.g. a thumbnail.
 * `frame` (all strokes by default) sets the fit, so a replay drawing part of them keeps its place.
 */
export function renderThumbnail(canvas, strokes, size, frame = strokes) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(size * dpr);
  canvas.height = Math.round(size * dpr);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const xs = frame.flatMap((s) => s[0]);
  const ys = frame.flatMap((s) => s[1]);
  if (xs.length === 0) return;
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = size * 0.1;
  const scale = Math.min((size - 2 * pad) / Math.max(x1 - x0, y1 - y0, 1), 2);
  const dx = (size - (x1 - x0) * scale) / 2 - x0 * scale;
  const dy = (size - (y1 - y0) * scale) / 2 - y0 * scale;
  ctx.setTransform(dpr * scale, 0, 0, dpr * scale, dpr * dx, dpr * dy);
  setPen(ctx, 3 / scale);
  for (const [sx, sy] of strokes) traceStroke(ctx, sx, sy);
}

/**
 * A canvas you draw on with mouse, touch or pen. Callbacks: onStrokeStart(),
 * onPoint(x, y, t) for every point, onStrokeEnd() when a stroke closes, onEmpty(bool) on redraws.
 *
 * Points are kept in the drawing's own coordinates: CSS pixels of the canvas as it was when the drawing
 * began. A resize or rotation redraws them scaled to fit and centred, so nothing is cut off, and the
 * points still to come are mapped back into the same coordinates.
 */
export class SketchCanvas {
  constructor(canvas, handlers = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    const nothing = () => {};
    this.handlers = { onStrokeStart: nothing, onPoint: nothing, onStrokeEnd: nothing, onEmpty: nothing, ...handlers };
    this.strokes = []; // completed strokes, [[xs], [ys], [ts]]
    this.wiped = []; // drawings the Clear tool took away, newest last: undo() puts them back
    this.current = null; // the stroke being drawn, same shape
    this.pointerId = null;
    this.origin = null; // event time (performance.now() clock) of the first point: t = ms since then
    this.view = null; // {width, height}: the canvas's CSS size when the drawing began
    this.fit = { scale: 1, dx: 0, dy: 0 }; // drawing coordinates → today's CSS pixels
    this.enabled = true;
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
    canvas.addEventListener("pointercancel", (e) => this.#up(e));
    canvas.addEventListener("lostpointercapture", (e) => this.#up(e));
    canvas.addEventListener("contextmenu", (e) => e.preventDefault());
    new ResizeObserver(() => this.resize()).observe(canvas);
    this.resize();
  }

  /** True while a pointer is down and a stroke is open. */
  get drawing() {
    return this.current !== null;
  }

  /** Every stroke so far, including the open one, as plain arrays (a copy). */
  snapshot() {
    const all = this.current ? [...this.strokes, this.current] : this.strokes;
    return all.map((s) => s.map((row) => row.slice()));
  }

  /** The completed strokes and the canvas size they were drawn on: enough to put the drawing back after a reload. */
  state() {
    return { strokes: this.strokes.map((s) => s.map((row) => row.slice())), view: this.view && { ...this.view } };
  }

  /** Put back a drawing from `state()`; points drawn from now on carry on its clock. */
  restore({ strokes, view }) {
    this.#abandon();
    this.strokes = strokes.map((s) => s.map((row) => row.slice()));
    this.view = view ? { ...view } : null;
    const last = this.strokes.at(-1)?.[2]?.at(-1);
    this.origin = last === undefined ? null : performance.now() - last - 1;
    this.redraw();
  }

  /** Match the backing store to the displayed size × devicePixelRatio, then redraw. */
  resize() {
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(rect.width * dpr));
    const height = Math.max(1, Math.round(rect.height * dpr));
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.dpr = dpr;
    this.rect = { width: rect.width, height: rect.height };
    this.redraw();
  }

  /** Scale and centre the drawing's coordinates into the canvas as it is now. */
  #fitView() {
    const { view, rect } = this;
    if (!view || !rect.width || !rect.height) return { scale: 1, dx: 0, dy: 0 };
    const scale = Math.min(rect.width / view.width, rect.height / view.height);
    return { scale, dx: (rect.width - view.width * scale) / 2, dy: (rect.height - view.height * scale) / 2 };
  }

  #pen() {
    const { scale, dx, dy } = this.fit;
    const d = this.dpr;
    this.ctx.setTransform(d * scale, 0, 0, d * scale, d * dx, d * dy);
    setPen(this.ctx, LINE_WIDTH / scale); // the same felt pen whatever the scale
  }

  redraw() {
    const { ctx, canvas } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    this.fit = this.#fitView();
    this.#pen();
    for (const [xs, ys] of this.strokes) traceStroke(ctx, xs, ys);
    if (this.current) traceStroke(ctx, this.current[0], this.current[1]);
    this.canvas.dataset.strokes = String(this.strokes.length); // for the inspector and the browser tests
    this.handlers.onEmpty(this.strokes.length === 0 && !this.current);
  }

  /**
   * Take back the last step: "stroke" (the last completed stroke went), "clear" (the drawing a Clear took away
   * is back), or null (nothing to undo, or a stroke is open).
   */
  undo() {
    if (this.drawing) return null;
    if (this.strokes.length > 0) {
      this.strokes.pop();
      this.redraw();
      return "stroke";
    }
    const wiped = this.wiped.pop();
    if (!wiped) return null;
    this.restore(wiped);
    return "clear";
  }

  /** The Clear tool: the drawing goes, kept for undo(); false when there is nothing to clear or a stroke is open. */
  wipe() {
    if (this.drawing || this.strokes.length === 0) return false;
    this.wiped.push(this.state());
    this.#empty();
    return true;
  }

  /** Remove everything and restart the clock (a new drawing): nothing to undo. */
  clear() {
    this.#abandon();
    this.wiped = [];
    this.#empty();
  }

  #empty() {
    this.strokes = [];
    this.origin = null;
    this.view = null;
    this.redraw();
  }

  /** Give the canvas the keyboard's focus (a round begins: the tools are a Tab away). */
  focus() {
    this.canvas.focus({ preventScroll: true });
  }

  /** Stop or allow drawing; disabling closes an open stroke first. */
  setEnabled(enabled) {
    if (!enabled && this.current) this.#finish();
    this.enabled = enabled;
    this.canvas.classList.toggle("disabled", !enabled);
  }

  #position(event) {
    const rect = this.canvas.getBoundingClientRect();
    if (this.origin === null) this.origin = event.timeStamp;
    const { scale, dx, dy } = this.fit;
    return [
      Math.round((event.clientX - rect.left - dx) / scale),
      Math.round((event.clientY - rect.top - dy) / scale),
      Math.max(0, Math.round(event.timeStamp - this.origin)),
    ];
  }

  #down(event) {
    if (!this.enabled || this.current || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    this.pointerId = event.pointerId;
    this.canvas.setPointerCapture?.(event.pointerId);
    if (!this.view && this.strokes.length === 0) {
      this.view = { ...this.rect }; // a new drawing takes the canvas's size today as its coordinates
      this.fit = this.#fitView();
    }
    const [x, y, t] = this.#position(event);
    this.current = [[x], [y], [t]];
    this.handlers.onStrokeStart();
    this.handlers.onPoint(x, y, t);
    this.#pen();
    traceStroke(this.ctx, [x], [y]);
  }

  #move(event) {
    if (!this.current || event.pointerId !== this.pointerId) return;
    event.preventDefault();
    // Coalesced events keep fast strokes smooth where the browser batches moves per frame.
    const events = event.getCoalescedEvents?.() ?? [];
    for (const e of events.length ? events : [event]) this.#add(...this.#position(e));
  }

  #add(x, y, t) {
    const [xs, ys, ts] = this.current;
    const n = xs.length;
    if (xs[n - 1] === x && ys[n - 1] === y) return; // no movement, no point
    xs.push(x);
    ys.push(y);
    ts.push(Math.max(t, ts[n - 1]));
    this.handlers.onPoint(x, y, ts[n]);
    // Draw only the new piece of the same midpoint curve that redraw() traces.
    const ctx = this.ctx;
    ctx.beginPath();
    if (n === 1) {
      ctx.moveTo(xs[0], ys[0]);
      ctx.lineTo((xs[0] + x) / 2, (ys[0] + y) / 2);
    } else {
      ctx.moveTo((xs[n - 2] + xs[n - 1]) / 2, (ys[n - 2] + ys[n - 1]) / 2);
      ctx.quadraticCurveTo(xs[n - 1], ys[n - 1], (xs[n - 1] + x) / 2, (ys[n - 1] + y) / 2);
    }
    ctx.stroke();
  }

  #up(event) {
    if (!this.current || event.pointerId !== this.pointerId) return;
    if (event.type === "pointerup") this.#add(...this.#position(event));
    this.#finish();
  }

  #finish() {
    const [xs, ys] = this.current;
    const n = xs.length;
    if (n > 1) {
      const ctx = this.ctx;
      ctx.beginPath();
      ctx.moveTo((xs[n - 2] + xs[n - 1]) / 2, (ys[n - 2] + ys[n - 1]) / 2);
      ctx.lineTo(xs[n - 1], ys[n - 1]);
      ctx.stroke();
    }
    this.strokes.push(this.current);
    this.canvas.dataset.strokes = String(this.strokes.length);
    this.#release();
    this.handlers.onStrokeEnd();
  }

  #abandon() {
    if (this.current) this.#release();
  }

  #release() {
    const id = this.pointerId;
    this.current = null; // first: releasing capture may fire lostpointercapture right away
    this.pointerId = null;
    if (this.canvas.hasPointerCapture?.(id)) this.canvas.releasePointerCapture(id);
  }
}
