// Small page widgets: the overlay card, the polite notice, the connection badge, the countdown.

/** The card over the canvas ("Round 2 of 6 · Draw: banana · Got it!"). */
export class Card {
  constructor(root) {
    this.root = root;
    this.kicker = root.querySelector("#card-kicker");
    this.title = root.querySelector("#card-title");
    this.text = root.querySelector("#card-text");
    this.button = root.querySelector("#card-button");
    this.onClick = null;
    this.button.addEventListener("click", () => {
      const action = this.onClick;
      this.onClick = null;
      action?.();
    });
  }

  /** Show the card; `button` is {label, action} or null for a card that goes away by itself. */
  show({ kicker = "", title, text = "", tone = "", button = null }) {
    this.kicker.textContent = kicker;
    this.title.textContent = title;
    this.text.textContent = text;
    this.root.dataset.tone = tone;
    this.button.hidden = !button;
    this.button.textContent = button?.label ?? "";
    this.onClick = button?.action ?? null;
    this.root.hidden = false;
    if (button) this.button.focus({ preventScroll: true });
  }

  hide() {
    this.root.hidden = true;
    this.onClick = null;
  }
}

/** A short message that goes away by itself (server errors, "saved"). */
export class Notice {
  constructor(element) {
    this.element = element;
    this.timer = null;
  }

  show(text, { tone = "info", ms = 4000 } = {}) {
    this.element.textContent = text;
    this.element.dataset.tone = tone;
    this.element.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => (this.element.hidden = true), ms);
  }
}

const STATE_TEXT = {
  connecting: () => "Connecting…",
  open: () => "Connected",
  retrying: ({ delay }) => `Offline, retrying in ${Math.max(1, Math.round(delay / 1000))} s`,
  offline: () => "No network",
  idle: () => "Paused, draw to reconnect",
};

/** Show the connection state in the header badge. */
export function showConnection(element, state, detail = {}) {
  element.dataset.state = state;
  element.querySelector(".status-text").textContent = STATE_TEXT[state](detail);
}

/** The visible countdown: whole seconds as text plus a shrinking bar. */
export class Countdown {
  constructor(root) {
    this.root = root;
    this.text = root.querySelector("#timer-text");
    this.fill = root.querySelector("#timer-fill");
    this.timer = null;
  }

  /** Count `seconds` down, calling onTick(ms past zero, negative before) ten times a second. */
  start(seconds, onTick = () => {}) {
    this.stop();
    const total = seconds * 1000;
    const deadline = performance.now() + total;
    this.root.hidden = false;
    const tick = () => {
      const left = deadline - performance.now();
      const shown = Math.max(0, Math.ceil(left / 1000));
      this.text.textContent = String(shown);
      this.root.classList.toggle("hurry", left <= 5000);
      this.fill.style.transform = `scaleX(${Math.max(0, left / total)})`;
      onTick(-left);
    };
    tick();
    this.timer = setInterval(tick, 100);
  }

  /** Freeze the display; `expired` shows zero (the server's timeout can beat our last tick). */
  stop(expired = false) {
    clearInterval(this.timer);
    this.timer = null;
    if (expired) {
      this.text.textContent = "0";
      this.fill.style.transform = "scaleX(0)";
    }
  }

  hide() {
    this.stop();
    this.root.hidden = true;
  }
}
