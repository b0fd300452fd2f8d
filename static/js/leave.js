// Leaving a room for good: mid-game, Quit asks first (the round's drawing scores nothing, and there is no way
// back into the game); then `leave`, and the seat is forgotten once the room has answered without this player.

const ANSWER_WAIT_MS = 3000; // no answer by then (the socket is down): the page leaves all the same

export class Leaving {
  /** `send(message)` → false when it could not be sent; `gone()` forgets the seat and moves the page on. */
  constructor({ send, gone, dialog }) {
    Object.assign(this, { send, gone, dialog });
    this.timer = null;
    dialog.addEventListener("close", () => {
      if (dialog.returnValue === "leave") this.now();
    });
  }

  /** Ask first (a modal dialog: Esc or "Stay" keeps the seat). */
  ask() {
    if (this.dialog.open || this.timer !== null) return;
    this.dialog.returnValue = "";
    this.dialog.showModal();
  }

  /** Leave now: the room's answer, or the wait running out, moves the page on. */
  now() {
    if (this.timer !== null) return;
    if (!this.send({ type: "leave" })) return this.#done();
    this.timer = setTimeout(() => this.#done(), ANSWER_WAIT_MS);
  }

  /** A `room` message: true when it is the answer to `leave` (this player is not in it), and the page moved on. */
  answered(room) {
    if (this.timer === null || room.players.some((p) => p.id === room.you)) return false;
    this.#done();
    return true;
  }

  #done() {
    clearTimeout(this.timer);
    this.timer = 0; // never null again: the page is going
    this.gone();
  }
}
