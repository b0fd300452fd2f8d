// The line the net "says" about the drawing: shown in the bubble at once, and said (an aria-live region, and
// the voice if it is on) calmly, but never naming a guess that is no longer on top.

const SURE = 0.7; // free drawing: from here on the net says "I think it's …"
export const MODEST = 0.25; // a leading guess below this is not named: the net is not sure yet
export const CALM_MS = 1500; // the said line names a new guess at most this often; in between it names none
export const IDLE_LINE = "Start drawing and I'll guess what it is.";
export const CLEARED_LINE = "Cleared. Undo brings it back.";
const FIRST_STROKE_LINE = "Hmm, let me see…"; // the first stroke's live guesses name nothing: a line is a knife
export const ALMOST_LINE = "Almost — it's my top guess, keep going.";

/** In a round not won yet, the prompt leads the guesses of a completed stroke: the player is close. */
export function almost(guesses, strokes, target) {
  return Boolean(target && strokes > 0 && guesses[0]?.word === target);
}

/** The guess the line may name: the leading one, once a stroke is complete and it is at least modestly sure. */
export function nameable(guesses, strokes) {
  const leader = guesses[0];
  return strokes > 0 && leader && leader.p >= MODEST ? leader.word : null;
}

/**
 * The line the net "says" for a list of guesses (best first) covering `strokes` completed strokes: it names
 * the leading guess only. "Oh, I know" is never said here: in a game only a won round says it, for the prompt;
 * while the prompt leads but the round is not won (below the game's bar), it says so.
 */
export function phrase(guesses, strokes, mode = "free", target = null) {
  if (!strokes && !guesses.length) return IDLE_LINE;
  if (mode !== "free" && almost(guesses, strokes, target)) return ALMOST_LINE;
  const word = nameable(guesses, strokes);
  if (word === null) return strokes ? "I'm not sure what that is." : FIRST_STROKE_LINE;
  return mode === "free" && guesses[0].p >= SURE ? `I think it's ${word}.` : `I see ${word}.`;
}

/** The bubble's line (`shown`, for the eyes) and its spoken twin (`said`, aria-live, and the optional voice). */
export class GuessLine {
  constructor({ shown, said, speechToggle }) {
    this.shown = shown;
    this.said = said;
    this.speech = new Speech(speechToggle);
    this.calm = { at: -Infinity, word: null, timer: null, next: null }; // what was said last, and when
    this.held = false;
  }

  /** A new drawing: say `text` at once, and the drawing's first guess too. */
  reset(text = IDLE_LINE) {
    this.held = false;
    this.say(text);
    this.calm.at = -Infinity;
  }

  /** Say `text` now, shown and said (a clear, the clock, a verdict); `hold` keeps it until `reset`. */
  say(text, { hold = false } = {}) {
    this.held = hold;
    this.shown.textContent = text;
    this.#speak(text, null, true);
  }

  /** The guesses changed: show their line now; say it now, or after a calm pause, naming nothing meanwhile. */
  follow(text, word) {
    if (this.held) return;
    if (this.shown.textContent !== text) this.shown.textContent = text;
    this.calm.next = { text, word };
    this.#sayNext();
  }

  #sayNext() {
    const { text, word } = this.calm.next;
    if (this.said.textContent === text) return this.#cancel();
    const wait = this.calm.at + CALM_MS - performance.now();
    if (wait <= 0) return this.#speak(text, word, false);
    if (this.calm.word !== null && this.calm.word !== word) this.#hush(); // stale: say nothing, not the wrong guess
    this.calm.timer ??= setTimeout(() => {
      this.calm.timer = null;
      if (this.calm.next && !this.held) this.#sayNext();
    }, wait);
  }

  /** Said now; a line that names a guess, or is `news` (not a guess's line), starts a calm pause. A guess's line
   * that names none ("Hmm, let me see…") starts none: the first guess worth naming is said at once. */
  #speak(text, word, news) {
    this.#cancel();
    if (news || word !== null) this.calm.at = performance.now();
    this.calm.word = word;
    if (this.said.textContent === text) return;
    this.said.textContent = text;
    this.speech.speak(text);
  }

  #hush() {
    this.calm.word = null;
    this.said.textContent = "";
    this.speech.drop();
  }

  #cancel() {
    clearTimeout(this.calm.timer);
    this.calm.timer = null;
    this.calm.next = null;
  }
}

/** Web Speech output behind a toggle button, off by default. */
class Speech {
  constructor(button) {
    this.enabled = false;
    this.next = null;
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

  /** Forget the line waiting for the voice (it names a guess no longer on top). */
  drop() {
    this.next = null;
  }

  #speakNext() {
    const text = this.next;
    this.next = null;
    this.speaking = text !== null;
    if (!this.speaking) return;
    const utterance = new SpeechSynthesisUtterance(text);
    utterance.addEventListener("end", () => this.#speakNext());
    utterance.addEventListener("error", () => this.#speakNext());
    speechSynthesis.speak(utterance);
  }
}
