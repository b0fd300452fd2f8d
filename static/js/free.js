// Free-draw mode: draw anything, watch the guesses; "New drawing" saves this one and starts over.

export class FreeDraw {
  constructor({ session, canvas, guesses, notice }) {
    Object.assign(this, { session, canvas, guesses, notice });
  }

  begin() {
    this.canvas.setEnabled(true);
    this.session.start("free");
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

  onTimeout() {}

  onSaved() {
    this.notice.show("Saved your drawing to the gallery.", { tone: "good", ms: 2500 });
  }

  skip() {}
}
