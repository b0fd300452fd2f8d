// What the network thinks: top guesses with confidence bars, a spoken-style line, optional speech.

const ROWS = 5;
const SURE = 0.7; // free drawing: from here on the net says "I think it's …"
const PLAUSIBLE = 0.1; // guesses below this are not worth saying out loud
export const CALM_MS = 1500; // the line (an aria-live region) and the voice change at most this often
export const IDLE_LINE = "Start drawing and I'll guess what it is.";

/**
 * The line the net "says" for a list of guesses (best first) covering `strokes` strokes.
 * "Oh, I know" is never said here: in a game only a won round says it (game.js), for the prompt.
 */
export function phrase(guesses, strokes, mode = "free") {
  if (!strokes && !guesses.length) return IDLE_LINE; // mid-stroke, the first stroke's live guesses count
  const likely = guesses.filter((g) => g.p >= PLAUSIBLE).slice(0, 3);
  if (likely.length === 0) return "I'm not sure what that is.";
  if (mode === "free" && likely[0].p >= SURE) return `I think it's ${likely[0].word}.`;
  return `I see ${likely.map((g) => g.word).join(", or ")}.`;
}

/** "93%", "<1%": a probability as people read it. */
export function percent(p) {
  return p < 0.01 ? "<1%" : `${Math.round(p * 100)}%`;
}

/** The guesses panel; accept() takes "guess" messages and drops stale ones by seq. */
export class GuessPanel {
  constructor({ list, line, strip = null, speechToggle, mode = "free" }) {
    this.line = line;
    this.strip = strip; // the leading guess over the canvas, where the list is off to the side or below
    this.mode = mode;
    this.calm = { at: -Infinity, pending: null, timer: null, leader: null };
    this.list = list;
    this.rows = [];
    for (let i = 0; i < ROWS; i++) {
      const row = document.createElement("li");
      row.className = "guess empty";
      row.innerHTML =
        '<span class="guess-word"></span><span class="guess-p"></span>' +
        '<span class="guess-bar" aria-hidden="true"><span class="guess-fill"></span></span>';
      list.append(row);
      this.rows.push(row);
    }
    this.speech = new Speech(speechToggle);
    this.target = null;
    this.reset();
  }

  /** Forget everything (a new drawing): seq numbering may start over. */
  reset(text = IDLE_LINE) {
    this.lastSeq = -Infinity;
    this.guesses = [];
    this.strokes = 0;
    this.calm.leader = null;
    this.#render();
    this.say(text);
    this.calm.at = -Infinity; // the first guess of a drawing is said at once
  }

  /** Highlight this word (the prompt) wherever it shows up in the list. */
  setTarget(word) {
    this.target = word;
    this.#render();
  }

  /** Show a "guess" message; false when it is older than one already shown. */
  accept(message) {
    if (message.seq <= this.lastSeq) return false;
    this.lastSeq = message.seq;
    this.guesses = message.guesses;
    this.strokes = message.strokes;
    this.#render();
    // The bars follow every guess; the words only a stroke's end or a new leading guess, calmly.
    const leader = this.guesses[0]?.word ?? null;
    if (!message.live || leader !== this.calm.leader) {
      this.calm.leader = leader;
      this.#sayCalmly(phrase(this.guesses, this.strokes, this.mode));
    }
    return true;
  }

  /** Put a line in the speech bubble (an aria-live region) and speak it if speech is on: now. */
  say(text) {
    clearTimeout(this.calm.timer);
    this.calm.timer = null;
    this.calm.pending = null;
    this.calm.at = performance.now();
    if (this.line.textContent === text) return;
    this.line.textContent = text;
    this.speech.speak(text);
  }

  /** `say`, but at most once per CALM_MS: a newer line waiting for its turn replaces an older one. */
  #sayCalmly(text) {
    const wait = this.calm.at + CALM_MS - performance.now();
    if (wait <= 0) return this.say(text);
    this.calm.pending = text;
    this.calm.timer ??= setTimeout(() => {
      this.calm.timer = null;
      if (this.calm.pending !== null) this.say(this.calm.pending);
    }, wait);
  }

  #render() {
    // What the list shows, as data: handy in the inspector and for the browser tests.
    this.list.dataset.strokes = String(this.strokes);
    this.list.dataset.seq = String(Number.isFinite(this.lastSeq) ? this.lastSeq : -1);
    if (this.strip) {
      const leader = this.guesses[0];
      this.strip.textContent = leader ? `${leader.word} ${percent(leader.p)}` : "";
      this.strip.classList.toggle("target", Boolean(leader && leader.word === this.target));
    }
    this.rows.forEach((row, i) => {
      const guess = this.guesses[i];
      row.classList.toggle("empty", !guess);
      row.classList.toggle("target", Boolean(guess && guess.word === this.target));
      row.querySelector(".guess-word").textContent = guess ? guess.word : "";
      row.querySelector(".guess-p").textContent = guess ? percent(guess.p) : "";
      // CSSOM, not a style attribute: allowed under the page's Content-Security-Policy.
      row.querySelector(".guess-fill").style.transform = `scaleX(${guess ? Math.max(guess.p, 0.01) : 0})`;
    });
  }
}

/** Web Speech output behind a toggle button, off by default. */
class Speech {
  constructor(button) {
    this.enabled = false;
    this.button = button;
    if (!button || !("speechSynthesis" in window)) return; // the toggle stays hidden
    button.hidden = false;
    button.addEventListener("click", () => {
      this.enabled = !this.enabled;
      button.setAttribute("aria-pressed", String(this.enabled));
      if (!this.enabled) {
        this.next = null;
        speechSynthesis.cancel();
      }
    });
  }

  /** Speak `text` once the voice is free: nothing is cut off mid-word, and only the newest waiting line is kept. */
  speak(text) {
    if (!this.enabled) return;
    this.next = text;
    if (!this.speaking) this.#speakNext();
  }

  #speakNext() {
    const text = this.next;
    this.next = null;
    this.speaking = text !== null && text !== undefined;
    if (!this.speaking) return;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.addEventListener("end", () => this.#speakNext());
    utterance.addEventListener("error", () => this.#speakNext());
    speechSynthesis.speak(utterance);
  }
}
