// Free-draw mode: draw anything, watch the guesses; "New drawing" saves this one and starts over.

export class FreeDraw {
  constructor({ session, canvas, guesses, notice, card, intro }) {
    Object.assign(this, { session, canvas, guesses, notice, card, intro });
  }

  /** Open a drawing; a first visit reads the intro first, on a card whose "Got it!" lets them draw. */
  begin() {
    this.session.start("free");
    if (!this.intro.due) return this.canvas.setEnabled(true);
    this.canvas.setEnabled(false);
    this.card.show({
      kicker: "Free draw",
      title: "Draw anything",
      text: "and I'll guess what it is",
      withIntro: true,
      button: {
        label: "Got it!",
        action: () => {
          this.card.hide();
          this.canvas.setEnabled(true);
          this.canvas.focus();
        },
      },
    });
  }

  get canEdit() {
    return true;
  }

  /** Save the current drawing (if it has strokes) and start a fresh one. */
  newDrawing() {
    if (this.canvas.drawing) return;
    this.session.end();
    this.canvas.clear();
    this.guesses.reset();
    this.session.start("free");
  }

  onRound() {
    this.session.takeReplay();
  }

  onGuess() {}

  onRecognized() {} // only games have a prompt to recognize

  /** The server ended a drawing left open too long (and saved it): carry on with a fresh one. */
  onTimeout() {
    this.#restart("That drawing was open a long time, so it was saved. Here's a fresh canvas.");
  }

  /** The server closed the idle socket and saved the drawing; the next one starts on reconnect. */
  onIdle() {
    this.#restart("You were away, so your drawing was saved. Draw to start a new one.");
  }

  #restart(text) {
    const hadStrokes = this.canvas.snapshot().length > 0;
    this.session.end(false);
    this.canvas.clear();
    this.guesses.reset();
    this.session.start("free"); // sent now, or replayed when the socket reopens
    if (hadStrokes) this.notice.show(text, { ms: 6000 });
  }

  onSaved() {
    this.notice.show("Saved your drawing to the gallery.", { tone: "good", ms: 2500 });
  }

  skip() {}
}
