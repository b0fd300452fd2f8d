// One saved drawing: replay it stroke by stroke, with what the network saw after each stroke.

import "./gallery.js"; // times in the reader's own time zone
import { renderThumbnail } from "./canvas.js";

const MAX_GAP_MS = 300; // pauses between strokes are shortened to this
const MAX_REPLAY_MS = 8000; // a long drawing is replayed faster, not for longer
const SIZE = 384; // CSS pixels, as the picture it replaces

const figure = document.getElementById("replay");
const picture = document.getElementById("replay-picture");
const button = document.getElementById("replay-button");
const steps = [...document.querySelectorAll("#steps li")];
const still = window.matchMedia("(prefers-reduced-motion: reduce)");

/** Each point's replay time (ms): strokes at their own pace (or 10 ms a point without times), gaps shortened. */
function timeline(strokes) {
  let clock = 0;
  const times = strokes.map(([xs, , ts]) => {
    const start = ts?.length ? ts[0] : 0;
    const own = xs.map((_, i) => (ts?.length ? ts[i] - start : i * 10));
    const shifted = own.map((t) => clock + t);
    clock = shifted.at(-1) + MAX_GAP_MS;
    return shifted;
  });
  const scale = Math.min(1, MAX_REPLAY_MS / Math.max(clock, 1));
  return times.map((row) => row.map((t) => t * scale));
}

/** Mark the steps up to `strokes` completed strokes as seen, the last of them as the current one. */
function showStep(strokes) {
  let current = null;
  for (const step of steps) {
    const seen = Number(step.dataset.strokes) <= strokes;
    step.classList.toggle("ahead", !seen);
    step.removeAttribute("aria-current");
    if (seen) current = step;
  }
  current?.setAttribute("aria-current", "step");
}

function replay(strokes, canvas) {
  const times = timeline(strokes);
  const start = performance.now();
  const frame = (now) => {
    const elapsed = still.matches ? Infinity : now - start;
    const shown = [];
    let done = 0;
    strokes.forEach((stroke, i) => {
      const count = times[i].filter((t) => t <= elapsed).length;
      if (count === 0) return;
      shown.push(stroke.map((row) => row.slice(0, count)));
      if (count === stroke[0].length) done += 1;
    });
    renderThumbnail(canvas, shown, SIZE, strokes);
    showStep(done);
    figure.dataset.replayed = String(done);
    if (done < strokes.length) requestAnimationFrame(frame);
    else button.disabled = false;
  };
  button.disabled = true;
  requestAnimationFrame(frame);
}

async function main() {
  const response = await fetch(figure.dataset.record, { headers: { Accept: "application/json" } });
  if (!response.ok) return; // the picture and the steps are already on the page
  const strokes = (await response.json()).drawing;
  if (!Array.isArray(strokes) || strokes.length === 0) return;
  const canvas = document.createElement("canvas");
  canvas.className = "thumb";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", picture.alt);
  picture.replaceWith(canvas);
  button.hidden = false;
  button.addEventListener("click", () => replay(strokes, canvas));
  replay(strokes, canvas);
}

main().catch((error) => console.warn("The replay is unavailable", error));
