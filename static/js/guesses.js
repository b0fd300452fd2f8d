// What the network thinks: top guesses with confidence bars, and the line in words that goes with them.

import { CLEARED_LINE, GuessLine, IDLE_LINE, almost, nameable, phrase } from "./line.js";

export { CALM_MS, IDLE_LINE, phrase } from "./line.js";

const ROWS = 5;

/** "93%", "<1%": a probability as people read it. */
export function percent(p) {
  return p < 0.01 ? "<1%" : `${Math.round(p * 100)}%`;
}

/** The guesses panel; accept() takes "guess" messages and drops stale ones by seq. */
export class GuessPanel {
  constructor({ list, line, shown, strip = null, speechToggle = null, mode = "free" }) {
    // `line` is the said line (aria-live); `shown`, the bubble's text, is its twin for the eyes.
    this.line = new GuessLine({ shown: shown ?? document.createElement("p"), said: line, speechToggle });
    this.strip = strip; // the leading guess over the canvas, where the list is off to the side or below
    this.mode = mode;
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
    this.target = null;
    this.reset();
  }

  /** Forget everything (a new drawing): seq numbering may start over. */
  reset(text = IDLE_LINE) {
    this.lastSeq = -Infinity;
    this.awaiting = null; // the id of a clear whose answer comes first: guesses before it show a wiped drawing
    this.guesses = [];
    this.strokes = 0;
    this.#render();
    this.line.reset(text);
  }

  /** The player wiped the canvas (a `clear` with id `id` is on its way): no guesses, and the line says so now. */
  cleared(id) {
    this.awaiting = id;
    this.guesses = [];
    this.strokes = 0;
    this.#render();
    this.line.say(CLEARED_LINE);
  }

  /** The server refused the message with id `id`: if it was the clear, stop waiting for its answer. */
  refused(id) {
    if (id !== null && id === this.awaiting) this.awaiting = null;
  }

  /** Highlight this word (the prompt) wherever it shows up in the list. */
  setTarget(word) {
    this.target = word;
    this.#render();
  }

  /** Show a "guess" message; false when it is older than one already shown, or about the drawing before a clear. */
  accept(message) {
    if (message.seq <= this.lastSeq) return false;
    const answersClear = this.awaiting !== null;
    if (answersClear) {
      if (message.reply_to !== this.awaiting) return false;
      this.awaiting = null;
    }
    this.lastSeq = message.seq;
    this.guesses = message.guesses;
    this.strokes = message.strokes;
    this.#render();
    if (answersClear && !this.guesses.length) return true; // the line says "Cleared" until there is more to say
    const close = this.mode !== "free" && this.leads();
    const named = close ? this.target : nameable(this.guesses, this.strokes);
    this.line.follow(phrase(this.guesses, this.strokes, this.mode, this.target), named);
    return true;
  }

  /** The prompt is the top guess of a completed stroke (in a round: not won yet, but close). */
  leads() {
    return almost(this.guesses, this.strokes, this.target);
  }

  /** Put a line in the bubble and say it now; `hold` keeps it (a verdict) until the next drawing. */
  say(text, options) {
    this.line.say(text, options);
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
