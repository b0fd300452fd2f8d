// Small page widgets: the overlay card, the first visit's intro, the polite notice, the connection badge, the
// countdown.

const INTRO_SEEN = "quickdraw.intro-seen";

/** The first visit's word about the game, shown on the first card; the card's one "Got it!" dismisses both. */
export const intro = {
  get due() {
    try {
      return !localStorage.getItem(INTRO_SEEN);
    } catch {
      return false; // no storage (a privacy setting): no intro rather than one on every visit
    }
  },
  seen() {
    try {
      localStorage.setItem(INTRO_SEEN, "1");
    } catch {
      // as above: nothing to remember it in
    }
  },
};

/** The card over the canvas ("Round 2 of 6 · Draw: banana · Got it!"). */
export class Card {
  constructor(root) {
    this.root = root;
    this.kicker = root.querySelector("#card-kicker");
    this.title = root.querySelector("#card-title");
    this.text = root.querySelector("#card-text");
    this.button = root.querySelector("#card-button");
    this.note = root.querySelector("#intro");
    this.card = root.querySelector("#card");
    this.onClick = null;
    this.button.addEventListener("click", () => {
      const action = this.onClick;
      this.onClick = null;
      action?.();
    });
  }

  /** Show the card; `button` is {label, action} or null for a card that goes away by itself; `withIntro` adds the
   * first visit's intro, which its button dismisses for good. */
  show({ kicker = "", title, text = "", tone = "", button = null, withIntro = false }) {
    if (withIntro && button) {
      const action = button.action;
      button = { ...button, action: () => (intro.seen(), action()) };
    }
    this.note.hidden = !withIntro;
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

  /** Move the keyboard's focus to the card itself (a verdict with no button: it is read, and Tab goes on). */
  focus() {
    this.card.focus({ preventScroll: true });
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
  retrying: ({ left }) => `Offline, retrying in ${Math.max(1, Math.ceil(left / 1000))} s`,
  offline: () => "No network",
  idle: () => "Paused, draw to reconnect",
};

let retryTicker = null;

/** Show the connection state in the header badge (a retry counts down), and on the page (offline greys). */
export function showConnection(element, state, detail = {}, retryButton = null) {
  clearInterval(retryTicker);
  element.dataset.state = state;
  document.body.dataset.connection = state;
  if (retryButton) retryButton.hidden = !["retrying", "offline"].includes(state);
  const text = element.querySelector(".status-text");
  const at = performance.now() + (detail.delay ?? 0);
  const show = () => (text.textContent = STATE_TEXT[state]({ ...detail, left: at - performance.now() }));
  show();
  if (state === "retrying") retryTicker = setInterval(show, 250);
}

/** "13 seconds left": the clock's name for a screen reader (role timer: read when asked, never announced). */
export const secondsLeft = (n) => `${n} second${n === 1 ? "" : "s"} left`;

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
    this.total = total;
    this.deadline = performance.now() + total;
    this.pausedAt = undefined;
    this.root.hidden = false;
    const tick = () => {
      const left = this.deadline - performance.now();
      const shown = Math.max(0, Math.ceil(left / 1000));
      this.#show(shown);
      this.root.classList.toggle("hurry", left <= 5000);
      this.fill.style.transform = `scaleX(${Math.max(0, left / total)})`;
      onTick(-left);
    };
    this.tick = tick;
    tick();
    this.timer = setInterval(tick, 100);
  }

  #show(seconds) {
    if (this.text.textContent === String(seconds)) return; // the name changes once a second, not ten times
    this.text.textContent = String(seconds);
    this.root.setAttribute("aria-label", secondsLeft(seconds));
  }

  /** How long the clock has run (ms), the time it was held not counted. */
  elapsed() {
    return this.total - (this.deadline - (this.pausedAt ?? performance.now()));
  }

  /** Hold the clock (the server is out of reach); `resume` carries on from where it stood. */
  pause() {
    if (this.timer === null || this.pausedAt !== undefined) return;
    this.pausedAt = performance.now();
    clearInterval(this.timer);
  }

  resume() {
    if (this.pausedAt === undefined) return;
    this.deadline += performance.now() - this.pausedAt;
    this.pausedAt = undefined;
    this.timer = setInterval(this.tick, 100);
  }

  /** Freeze the display; `expired` shows zero (the server's timeout can beat our last tick). */
  stop(expired = false) {
    clearInterval(this.timer);
    this.timer = null;
    this.pausedAt = undefined;
    if (expired) {
      this.#show(0);
      this.fill.style.transform = "scaleX(0)";
    }
  }

  hide() {
    this.stop();
    this.root.hidden = true;
  }
}
