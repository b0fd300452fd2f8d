// The WebSocket to the server: JSON messages, visible state, reconnect with exponential backoff.

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 3_000; // a player mid-round waits seconds, not tens of them
import * as messages from "./messages.js";

const BATCH_MS = 50; // points go out in small batches: smooth for the server, cheap for the network

/** The socket URL for this page: same host, ws: or wss: to match http: or https:. */
export function socketUrl(path = "/ws") {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

const NORMAL_CLOSURE = 1000; // the server closed an idle socket on purpose: wait for the player

/**
 * A connection that keeps itself open. Callbacks: onMessage(obj), onOpen(), onIdle(),
 * onState(state, detail) with state "connecting" | "open" | "retrying" | "offline" | "idle".
 */
export class Connection {
  constructor(url, { onMessage, onOpen = () => {}, onIdle = () => {}, onState = () => {} }) {
    this.url = url;
    this.handlers = { onMessage, onOpen, onIdle, onState };
    this.ws = null;
    this.attempt = 0;
    this.retryTimer = null;
    window.addEventListener("online", () => this.retryNow());
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.handlers.onState("connecting");
    let ws;
    try {
      ws = new WebSocket(this.url, messages.SUBPROTOCOL);
    } catch (error) {
      console.error("WebSocket could not be created", error);
      this.#scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.handlers.onState("open");
      this.handlers.onOpen();
    });
    ws.addEventListener("message", (event) => this.#receive(event));
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      console.info(`WebSocket closed (${event.code}${event.reason ? ": " + event.reason : ""})`);
      if (event.code === NORMAL_CLOSURE) {
        this.handlers.onState("idle");
        this.handlers.onIdle(); // reconnecting now would only idle again; wake() does it on the next touch
      } else {
        this.#scheduleRetry();
      }
    });
  }

  /** Reconnect now if the socket is down and no retry is pending (the player is back). */
  wake() {
    if (!this.ws && this.retryTimer === null) this.connect();
  }

  /** Send one message; false (and nothing sent) while disconnected. */
  send(message) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  #receive(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      console.error("Not JSON from the server:", event.data);
      return;
    }
    try {
      this.handlers.onMessage(message);
    } catch (error) {
      console.error("Could not handle", message, error); // one bad message never kills the socket
    }
  }

  #scheduleRetry() {
    if (!navigator.onLine) {
      this.handlers.onState("offline");
      return; // the "online" event reconnects
    }
    const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5)); // jitter: no thundering herd
    this.attempt += 1;
    this.handlers.onState("retrying", { delay, attempt: this.attempt });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /** Reconnect at once (the player pressed "Retry now", or the network is back). */
  retryNow() {
    if (!this.ws) this.connect();
  }
}

/**
 * Collects a stroke's points and sends them as one "points" message every ~50 ms;
 * end() flushes and closes the stroke with "stroke_end".
 */
export class PointBatcher {
  constructor(send) {
    this.send = send;
    this.#reset();
    this.timer = null;
  }

  add(x, y, t) {
    this.x.push(x);
    this.y.push(y);
    this.t.push(t);
    if (this.x.length >= messages.BATCH_POINTS) this.flush();
    else if (this.timer === null) this.timer = setTimeout(() => this.flush(), BATCH_MS);
  }

  flush() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.x.length === 0) return;
    this.send(messages.points(this.x, this.y, this.t));
    this.#reset();
  }

  end() {
    this.flush();
    this.send(messages.strokeEnd());
  }

  /** Forget unsent points (the drawing they belonged to is gone). */
  drop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.#reset();
  }

  #reset() {
    this.x = [];
    this.y = [];
    this.t = [];
  }
}
