// Game mode: six prompts, a countdown each, the net's verdict, then a summary of all six drawings.

import { inTime, keepSummary, keptSummary, summaryItem, summaryTitle } from "./summary.js";

export const ROUNDS = 6;
const RESULT_MS = 1800; // how long the verdict stays up before the next prompt
const GRACE_MS = 4000; // past zero with no word from the server (offline?): end the round ourselves
const CALLS = [10, 5]; // seconds left that are said out loud
const BEHIND_MS = 1000; // a server whose clock for the drawing is this far behind ours will not end it in time
const ALMOST_VERDICT = "So close: it was my top guess, but I wasn't sure enough."; // time ran out while it led

function shuffled(items) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** Six distinct prompts from the model's labels, or nulls (the server then picks) if unavailable. */
async function pickWords() {
  try {
    const response = await fetch("/api/labels", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    const labels = Array.isArray(body) ? body : body.labels;
    if (!Array.isArray(labels) || labels.length === 0) throw new Error("no labels");
    const words = shuffled(labels).slice(0, ROUNDS);
    while (words.length < ROUNDS) words.push(labels[words.length % labels.length]);
    return words;
  } catch (error) {
    console.warn("Labels unavailable; the server picks the prompts", error);
    return Array(ROUNDS).fill(null);
  }
}

/** The game's flow; main.js feeds it the server's messages. */
export class Game {
  constructor({ session, canvas, guesses, card, intro, countdown, prompt, summary, timeLimit }) {
    Object.assign(this, { session, canvas, guesses, card, intro, countdown, prompt, summary });
    this.timeLimit = timeLimit; // seconds, from the page; the server's "round" message has the last word
    this.#enter("idle");
    this.results = [];
    this.words = [];
    this.word = null;
    this.next = null; // the timer that moves on from a verdict
    this.quitted = false; // the summary shown is of a game the player quit
    this.behind = 0; // ms the server's clock for this round's drawing is behind ours (one that started it again)
    summary.querySelector("#play-again").addEventListener("click", () => this.begin(true));
    document.getElementById("quit")?.addEventListener("click", () => this.quit());
  }

  /** idle | ready (prompt card) | waiting (for "round") | drawing | verdict | summary; shown on <body data-game>. */
  #enter(state) {
    this.state = state;
    document.body.dataset.game = state;
    // Tools that cannot be used now are disabled: no Tab stop, and announced as unavailable.
    for (const tool of document.querySelectorAll(".toolbar button")) tool.disabled = state !== "drawing";
  }

  /** Start a new game of six rounds; back from a drawing's page, show the summary it was opened from. */
  async begin(fresh = false) {
    const kept = keptSummary();
    if (!fresh && location.hash === "#summary" && kept) {
      this.results = kept.results;
      return this.#showSummary(kept.quit);
    }
    history.replaceState(null, "", location.pathname + location.search);
    this.summary.hidden = true;
    document.body.classList.remove("show-summary");
    this.results = [];
    this.#enter("idle");
    this.words = await pickWords();
    this.#announce();
  }

  get canEdit() {
    return this.state === "drawing" || this.state === "waiting";
  }

  /** The prompt card for the next round (with the intro, on a first visit); the clock starts on "Got it!". */
  #announce() {
    const round = this.results.length + 1;
    this.word = this.words[round - 1];
    this.#enter("ready");
    this.canvas.setEnabled(false);
    this.canvas.clear();
    this.guesses.reset();
    this.guesses.setTarget(this.word);
    this.countdown.hide();
    this.#showPrompt(this.word, round);
    this.card.show({
      kicker: `Round ${round} of ${ROUNDS}`,
      title: this.word ? `Draw: ${this.word}` : "Get ready to draw",
      text: `in under ${this.timeLimit} seconds`,
      button: { label: "Got it!", action: () => this.#go() },
      withIntro: this.intro.due,
    });
  }

  #go() {
    this.card.hide();
    this.#enter("waiting");
    this.canvas.setEnabled(true);
    this.canvas.focus(); // not the document: the tools are a Tab away, Quit a Shift+Tab
    this.session.start("game", this.word);
  }

  /** The six-dot progress: done rounds marked recognized or not, the current one ringed. */
  #showRounds() {
    const list = document.getElementById("rounds");
    if (!list) return;
    const items = [];
    for (let i = 0; i < ROUNDS; i++) {
      const result = this.results[i];
      const item = document.createElement("li");
      const current = i === this.results.length && this.state !== "verdict";
      item.className = result ? (result.recognized ? "good" : "bad") : current ? "current" : "";
      item.textContent = result ? (result.recognized ? "✓" : "✗") : String(i + 1);
      item.title = result ? `${result.word}: ${result.recognized ? "recognized" : "not recognized"}` : `Round ${i + 1}`;
      items.push(item);
    }
    list.replaceChildren(...items);
  }

  #showPrompt(word, round) {
    this.#showRounds();
    this.prompt.replaceChildren();
    const label = document.createElement("span");
    label.className = "prompt-label";
    label.textContent = word ? "Draw:" : "Draw";
    const target = document.createElement("strong");
    target.className = "prompt-word";
    target.textContent = word ?? "…";
    const count = document.createElement("span");
    count.className = "prompt-round";
    count.textContent = `${round}/${ROUNDS}`;
    this.prompt.append(label, " ", target, " ", count);
  }

  onRound(message) {
    const replay = this.session.takeReplay();
    if (replay && this.state === "drawing") {
      // Our clock keeps running: a reconnect buys no time. A server that could not carry the drawing on started
      // it again at 0: its times (a win's elapsed_ms) are put on our clock, the one the player saw.
      this.behind = Math.max(0, this.countdown.elapsed() - (message.elapsed_ms ?? 0));
      return;
    }
    if (this.state !== "waiting") return;
    this.behind = 0;
    this.word = message.word;
    this.guesses.setTarget(message.word);
    this.#showPrompt(message.word, this.results.length + 1);
    this.#enter("drawing");
    if (typeof message.time_limit_s === "number") {
      this.timeLimit = message.time_limit_s;
      this.lastCall = null;
      this.countdown.start(message.time_limit_s, (overdue) => {
        const left = Math.ceil(-overdue / 1000);
        if (CALLS.includes(left) && this.lastCall !== left && left < this.timeLimit) {
          this.lastCall = left;
          this.guesses.say(`${left} seconds left.`); // the clock, for ears too
        }
        // Past zero the server's timeout is awaited a moment, unless its clock runs late (it started again).
        if (overdue > (this.behind > BEHIND_MS ? 0 : GRACE_MS)) this.#finish(false, { notify: true });
      });
    }
  }

  onGuess() {
    const last = this.results.at(-1);
    if (this.state === "verdict" && last) last.guesses = this.guesses.guesses; // a late guess is still the net's last word
  }

  onRecognized(message) {
    if (!this.#current(message)) return;
    // Recognizing ends the round on the server. Its time is said on the clock the player saw.
    const seconds = Math.min(this.timeLimit, (message.elapsed_ms + this.behind) / 1000);
    this.#finish(true, { notify: false, p: message.p, seconds });
  }

  onTimeout(message) {
    if (!this.#current(message)) return;
    this.#finish(false, { notify: false }); // the server has ended the round itself
  }

  /** The server is out of reach: the round's clock holds (the drawing resumes with the time it had). */
  onOffline() {
    if (this.state === "drawing") this.countdown.pause();
  }

  onOnline() {
    this.countdown.resume();
  }

  /** The socket was closed for idling; a round still open has ended on the server. */
  onIdle() {
    if (this.canEdit) this.#finish(false, { notify: false });
  }

  onSaved(message) {
    const index = this.results.findIndex((r) => r.word === message.word && !r.savedId);
    if (index < 0) return;
    this.results[index].savedId = message.id;
    if (this.state !== "summary") return;
    this.summary.querySelectorAll(".summary-item")[index]?.replaceWith(summaryItem(this.results[index]));
    this.#keep();
  }

  /** Give up on this prompt. */
  skip() {
    if (this.canEdit) this.#finish(false, { notify: true, ended: "skip" });
  }

  #current(message) {
    return this.state === "drawing" && (!this.word || message.word === this.word);
  }

  #finish(recognized, { notify, p = null, seconds = null, ended = null }) {
    const skipped = ended === "skip";
    const focusLost = this.#focusInStage(); // on a tool about to be disabled, or the canvas
    this.#enter("verdict");
    this.countdown.stop(!recognized && !skipped);
    this.session.end(notify); // first, so a stroke cut short below is not streamed into a closed round
    this.canvas.setEnabled(false);
    const strokes = this.canvas.snapshot();
    this.results.push({ word: this.word, recognized, p, seconds, strokes, guesses: this.guesses.guesses, ended });
    this.#showRounds();
    // Say what happened: a win, a skip, an empty canvas, or a drawing the net could not place.
    const title = recognized
      ? `Oh, I know, it's ${this.word}!`
      : skipped
        ? `Skipped: it was ${this.word}.`
        : strokes.length === 0
          ? "Time's up, and nothing was drawn."
          : this.guesses.leads()
            ? ALMOST_VERDICT
            : "Sorry, I couldn't guess it.";
    this.card.show({
      kicker: recognized ? "Recognized!" : skipped ? "Skipped" : "Time's up",
      title,
      text: recognized ? inTime(seconds) : `It was ${this.word ?? "a mystery"}.`,
      tone: recognized ? "good" : "bad",
    });
    // The line says the verdict at once and keeps it: a late guess does not talk over it.
    const said = recognized || skipped || !strokes.length ? title : `${title} It was ${this.word}.`;
    this.guesses.say(said, { hold: true });
    if (focusLost) this.card.focus();
    this.next = setTimeout(() => (this.results.length < ROUNDS ? this.#announce() : this.#showSummary()), RESULT_MS);
  }

  /** Stop the game here: the open round ends (saved if drawn on), and the rounds played so far are shown. */
  quit() {
    if (this.state === "summary" || this.state === "idle") return;
    clearTimeout(this.next);
    if (this.canEdit) {
      this.countdown.stop();
      this.session.end(true);
      this.canvas.setEnabled(false);
      const strokes = this.canvas.snapshot();
      if (strokes.length) this.results.push({ word: this.word, recognized: false, strokes, guesses: this.guesses.guesses, ended: "quit" });
    }
    this.#showSummary(true);
  }

  #showSummary(quit = false) {
    this.quitted = quit;
    this.#enter("summary");
    this.card.hide();
    this.countdown.hide();
    const grid = this.summary.querySelector("#summary-grid");
    grid.replaceChildren(...this.results.map((result) => summaryItem(result)));
    const played = this.results.length;
    const hits = this.results.filter((r) => r.recognized).length;
    const title = this.summary.querySelector("#summary-title");
    title.textContent = summaryTitle(this.results, quit, ROUNDS);
    this.summary.querySelector("#summary-score").textContent = played
      ? `The net recognized ${hits} of your ${played} drawing${played === 1 ? "" : "s"}. Open one to replay it.`
      : "No drawings this time.";
    document.body.classList.add("show-summary");
    this.summary.hidden = false;
    // Focus lands where the eyes should: the summary's heading, scrolled into view.
    title.focus({ preventScroll: true });
    this.summary.scrollIntoView({ block: "start" });
    this.#keep();
  }

  #keep() {
    keepSummary(this.results, this.quitted);
  }

  /** Whether the keyboard's focus is on the drawing's stage (or nowhere): a verdict then takes it. */
  #focusInStage() {
    const focused = document.activeElement;
    return !focused || focused === document.body || Boolean(focused.closest(".stage"));
  }
}
