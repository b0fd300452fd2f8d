// What the network thinks: top guesses with confidence bars, a spoken-style line, optional speech.

const ROWS = 5;
const SURE = 0.7; // from here on the net says "Oh, I know"
const PLAUSIBLE = 0.1; // guesses below this are not worth saying out loud
export const IDLE_LINE = "Start drawing and I'll guess what it is.";

/** The line the net "says" for a list of guesses (best first) covering `strokes` strokes. */
export function phrase(guesses, strokes) {
  if (!strokes) return IDLE_LINE;
  const likely = guesses.filter((g) => g.p >= PLAUSIBLE).slice(0, 3);
  if (likely.length === 0) return "I'm not sure what that is.";
  if (likely[0].p >= SURE) return `Oh, I know, it's ${likely[0].word}!`;
  return `I see ${likely.map((g) => g.word).join(", or ")}.`;
}

/** "93%", "<1%": a probability as people read it. */
export function percent(p) {
  return p < 0.01 ? "<1%" : `${Math.round(p * 100)}%`;
}

/** The guesses panel; accept() takes "guess" messages and drops stale ones by seq. */
export class GuessPanel {
  constructor({ list, line, speechToggle }) {
    this.line = line;
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
    this.#render();
    this.say(text);
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
    this.say(phrase(this.guesses, this.strokes));
    return true;
  }

  /** Put a line in the speech bubble (an aria-live region) and speak it if speech is on. */
  say(text) {
    if (this.line.textContent === text) return;
    this.line.textContent = text;
    this.speech.speak(text);
  }

  #render() {
    // What the list shows, as data: handy in the inspector and for the browser tests.
    this.list.dataset.strokes = String(this.strokes);
    this.list.dataset.seq = String(Number.isFinite(this.lastSeq) ? this.lastSeq : -1);
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
      if (!this.enabled) speechSynthesis.cancel();
    });
  }

  speak(text) {
    if (!this.enabled) return;
    speechSynthesis.cancel(); // only the newest thought matters
    speechSynthesis.speak(new SpeechSynthesisUtterance(text));
  }
}
