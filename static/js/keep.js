// What a room page keeps in the browser, so that a reload or a closed tab gets the player back where they were.
//
// A seat ({player, token}) is kept twice: in sessionStorage, for a reload of this tab, and in localStorage with
// the browser's other seats in the same room, for a new tab on the room's link. Two tabs of one browser may sit
// in one room (two players), so a new tab takes a seat no open tab holds: each tab holds a Web Lock named for
// its seat while it lives, and the browser releases it when the tab closes or crashes.

const SEAT = "quickdraw.room-seat."; // + code, sessionStorage: this tab's seat
const SEATS = "quickdraw.room-seats."; // + code, localStorage: the browser's seats in the room, newest first
const DRAWING = "quickdraw.room-drawing."; // + code, sessionStorage: this tab's drawing of the round
const SEAT_KEPT_MS = 12 * 3600_000; // rooms go after 30 idle minutes: a seat this old is long gone
const OWN_WAIT_MS = 2000; // a reloaded page's lock is released as the old page goes
const held = new Map(); // lock name → its release, for the seats this tab holds

function read(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) ?? "null");
  } catch {
    return null; // unreadable: as if nothing were kept
  }
}

function write(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch (error) {
    console.warn("Could not keep", key, error); // storage full or off: the page works on, a reload just forgets
  }
}

const lockName = (code, player) => `quickdraw.room-seat.${code}.${player}`;

/** Hold the seat's lock while this tab lives; false when another tab holds it (after `waitMs`, if given). */
function hold(code, player, waitMs = 0) {
  const name = lockName(code, player);
  if (held.has(name)) return Promise.resolve(true);
  if (!navigator.locks) return Promise.resolve(true); // an insecure context has no locks: trust the newest seat
  const how = waitMs ? { signal: AbortSignal.timeout(waitMs) } : { ifAvailable: true };
  return new Promise((resolve) => {
    navigator.locks
      .request(name, how, (lock) => {
        resolve(Boolean(lock));
        return lock ? new Promise((release) => held.set(name, release)) : null;
      })
      .catch((error) => resolve(error.name !== "AbortError" && error.name !== "TimeoutError"));
  });
}

function stored(code) {
  const seats = read(localStorage, SEATS + code);
  return Array.isArray(seats) ? seats.filter((s) => Date.now() - s.at < SEAT_KEPT_MS) : [];
}

/**
 * The seat this tab takes back in room `code`: its own (a reload), else one of this browser's that no open tab
 * holds (a closed tab's); null when there is none. The seat found is held from now on.
 */
export async function findSeat(code) {
  if (!code) return null;
  const own = read(sessionStorage, SEAT + code);
  sessionStorage.removeItem(SEAT + code); // a duplicated tab copies it, but only one tab can hold a seat
  const candidates = own ? [own, ...stored(code).filter((s) => s.player !== own.player)] : stored(code);
  for (const seat of candidates) {
    // This tab's own seat may still be held by the page it replaces (a reload): wait for that a moment.
    if (await hold(code, seat.player, seat === own ? OWN_WAIT_MS : 0)) {
      write(sessionStorage, SEAT + code, { player: seat.player, token: seat.token });
      return { player: seat.player, token: seat.token };
    }
  }
  return null;
}

/** Whether this tab or browser has held a seat in room `code` (findSeat may still find none free). */
export const known = (code) => Boolean(code && (seat(code) || stored(code).length));

/** This tab's seat in room `code`, or null. */
export const seat = (code) => (code ? read(sessionStorage, SEAT + code) : null);

/** The room gave this tab a seat: keep it for a reload and for a new tab, and hold it. */
export function keepSeat(code, player, token) {
  const own = seat(code);
  if (own?.player === player && own.token === token && held.has(lockName(code, player))) return;
  write(sessionStorage, SEAT + code, { player, token });
  const others = stored(code).filter((s) => s.player !== player);
  write(localStorage, SEATS + code, [{ player, token, at: Date.now() }, ...others].slice(0, 8));
  hold(code, player);
}

/** This tab's seat is gone (left, or refused by the room): forget it here and for new tabs. */
export function forgetSeat(code) {
  const own = seat(code);
  sessionStorage.removeItem(SEAT + code);
  if (!own) return;
  write(localStorage, SEATS + code, stored(code).filter((s) => s.player !== own.player));
  const name = lockName(code, own.player);
  held.get(name)?.();
  held.delete(name);
}

/** This tab's drawing in room `code`: {round, id, token, open, strokes, view}, or null. */
export const drawing = (code) => (code ? read(sessionStorage, DRAWING + code) : null);
export const keepDrawing = (code, kept) => write(sessionStorage, DRAWING + code, kept);
export const forgetDrawing = (code) => sessionStorage.removeItem(DRAWING + code);
