// A game's summary: one tile per round, its heading, and what is kept of it for Back from a drawing's page.

import { renderThumbnail } from "./canvas.js";
import { percent } from "./guesses.js";

const KEPT = "quickdraw.summary"; // the last summary, for coming back from a drawing's page

/** "in 4.2 s", or nothing when the time is unknown. */
export function inTime(seconds) {
  return Number.isFinite(seconds) ? `in ${seconds.toFixed(1)} s` : "";
}

/** The summary's heading: a game the player quit is over, whatever its score; else it is judged. */
export function summaryTitle(results, quit, rounds) {
  if (quit) return "Game over";
  return results.filter((r) => r.recognized).length >= rounds / 2 ? "Well done!" : "Nice try!";
}

/** Remember the summary, so Back from a drawing's page comes back to the same one. */
export function keepSummary(results, quit) {
  sessionStorage.setItem(KEPT, JSON.stringify({ results, quit }));
  history.replaceState(null, "", "#summary");
}

/** The summary kept by `keepSummary` ({results, quit}), or null; it is forgotten once read. */
export function keptSummary() {
  let kept = null;
  try {
    kept = JSON.parse(sessionStorage.getItem(KEPT) ?? "null");
  } catch {
    kept = null; // unreadable: as if nothing were kept
  }
  sessionStorage.removeItem(KEPT);
  return kept && Array.isArray(kept.results) ? kept : null;
}

/** How a round the net did not recognize ended, before what the net saw. */
const ENDED = { skip: "Skipped.", quit: "Ended by Quit." };

/** One tile of the summary: the drawing, the prompt, the verdict and the net's top guesses; once saved, a link
 * to the drawing's own page. The verdict is the one the gallery and the drawing's page show. */
export function summaryItem(result) {
  const item = document.createElement("li");
  item.className = `summary-item ${result.recognized ? "good" : "bad"}`;
  const figure = document.createElement("figure");
  const canvas = document.createElement("canvas");
  canvas.className = "thumb";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `Your drawing of ${result.word ?? "the prompt"}`);
  const caption = document.createElement("figcaption");
  const word = document.createElement("strong");
  word.textContent = result.word ?? "?";
  const verdict = document.createElement("span");
  verdict.className = "verdict";
  verdict.textContent = result.recognized ? `✓ Recognized ${inTime(result.seconds)}`.trim() : "✗ Not recognized";
  const top = document.createElement("span");
  top.className = "net-guesses";
  const shown = (result.guesses ?? []).slice(0, 3);
  const instead = shown[0] && shown[0].word !== result.word ? shown[0].word : null;
  const saw = !result.strokes?.length
    ? "Nothing was drawn."
    : !shown.length
      ? "The net had no guess yet."
      : !result.recognized && instead
        ? `It thought it looked more like ${instead}.`
        : `The net saw: ${shown.map((g) => `${g.word} ${percent(g.p)}`).join(", ")}`;
  top.textContent = [ENDED[result.ended], saw].filter(Boolean).join(" ");
  caption.append(word, verdict, top);
  figure.append(canvas, caption);
  if (result.savedId) {
    const link = document.createElement("a");
    link.className = "tile-link";
    link.href = `/drawing/${encodeURIComponent(result.savedId)}`;
    link.append(figure);
    item.append(link);
  } else {
    item.append(figure);
  }
  // Render after layout so the thumbnail matches its displayed size.
  requestAnimationFrame(() => renderThumbnail(canvas, result.strokes, canvas.clientWidth || 160));
  return item;
}
