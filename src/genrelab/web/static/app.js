"use strict";
// genrelab's page: upload a file, show the answer, the timeline, the probabilities and (on request) the
// model's mel spectrogram; play the file from memory with a cursor that follows it on the timeline.
const COLORS = ["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac",
                "#1f77b4","#aec7e8","#ffbb78","#98df8a","#c5b0d5","#c49c94"];
let LABELS = [];
let RESULT = null;          // the last answer (for the cursor)
let objectUrl = null;       // the chosen file, played from memory
const $ = (id) => document.getElementById(id);
const colorOf = (g) => COLORS[Math.max(0, LABELS.indexOf(g)) % COLORS.length];
const pct = (p) => (100 * p).toFixed(p >= 0.995 || p < 0.001 ? 0 : 1) + "%";
const mmss = (s) => Math.floor(s / 60) + ":" + String(Math.floor(s % 60)).padStart(2, "0");
// The API's field names are read in one place: both the current (genre/probability) and the unified
// (label/score) spellings are understood.
const labelOf = (o) => (o == null ? "" : String(o.label ?? o.genre ?? ""));
const scoreOf = (o) => Number(o == null ? 0 : (o.score ?? o.probability ?? o.confidence ?? 0));

fetch("/api/model").then(r => r.json()).then(m => {
  LABELS = m.labels || [];
  $("model-info").textContent = "Model: " + String(m.name || "?") + " (" + LABELS.length + " genres).";
  if (m.max_upload_bytes) $("limit").textContent = "up to " + Math.round(m.max_upload_bytes / 1048576) + " MB";
}).catch(() => {});

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function topOf(data) {
  if (Array.isArray(data.top) && data.top.length) return data.top.map(t => [labelOf(t), scoreOf(t)]);
  const p = data.probabilities || {};
  return Object.entries(p).sort((a, b) => b[1] - a[1]);
}

function trackEnd(data) {
  const tl = data.timeline || [];
  return data.duration || (tl.length ? tl[tl.length - 1].end : 0) || 1;
}

function renderAnswer(data) {
  const top = topOf(data);
  const best = top.length ? top[0] : ["?", 0];
  $("answer").replaceChildren(el("span", "", best[0] + " "),
    el("small", "", pct(best[1]) + " · " + (data.path ?? data.filename) +
      (data.duration ? " · " + mmss(data.duration) : "")));
  if (data.uncertain) $("answer").append(el("small", "uncertain", " · uncertain (low confidence)"));
  const styles = Array.isArray(data.styles) ? data.styles : [];
  if (styles.length)  // textContent only (el): tag names are never parsed as HTML
    $("answer").append(el("div", "styles", "styles: " + styles.map(s => labelOf(s) + " " + pct(scoreOf(s))).join(", ")));
}

function renderBars(data) {
  const probs = data.probabilities && Object.keys(data.probabilities).length ?
    Object.entries(data.probabilities).sort((a, b) => b[1] - a[1]) : topOf(data);
  const rows = probs.map(([g, p]) => {
    const row = el("div", "bar"), track = el("div", "track"), fill = el("div", "fill");
    row.dataset.genre = g;
    fill.style.width = (100 * p).toFixed(2) + "%";
    fill.style.background = colorOf(g);
    track.append(fill);
    row.append(el("div", "name", g), track, el("div", "val", pct(p)));
    return row;
  });
  $("bars").replaceChildren(...rows);
  $("known").textContent = "The model knows only these " + (LABELS.length || probs.length) +
    " genres; music of any other genre gets the nearest of them.";
}

function renderTimeline(data) {
  const tl = data.timeline || [];
  $("timeline").classList.toggle("hidden", tl.length === 0);
  if (!tl.length) return;
  const end = trackEnd(data), seen = new Set(), segs = [];
  let covered = 0;
  for (const s of tl) {
    const a = Math.max(covered, s.start), b = Math.min(end, s.end);
    if (b <= a) continue;
    if (a > covered) segs.push(spacer(a - covered));
    const seg = el("div", "tl-seg"), g = labelOf(s), p = scoreOf(s);
    seg.style.flex = String(b - a);
    seg.style.background = colorOf(g);
    seg.style.opacity = String(0.45 + 0.55 * p);
    seg.title = mmss(s.start) + "–" + mmss(s.end) + "  " + g + " " + pct(p);
    seg.dataset.genre = g;
    segs.push(seg);
    seen.add(g);
    covered = b;
  }
  if (covered < end) segs.push(spacer(end - covered));
  $("timeline-strip").replaceChildren(...segs);
  const step = [5, 10, 15, 30, 60, 120, 300, 600].find(x => end / x <= 8) || 1200;
  const ticks = [];
  for (let t = 0; t < end - step / 3; t += step) ticks.push(tick(t, end));
  ticks.push(tick(end, end));
  $("timeline-axis").replaceChildren(...ticks);
  const order = LABELS.length ? LABELS : Array.from(seen);
  $("legend").replaceChildren(...order.filter(x => seen.has(x)).map(g => {
    const item = el("span", "", g);
    item.style.setProperty("--c", colorOf(g));
    return item;
  }));
}

function spacer(len) {
  const s = el("div", "tl-gap");
  s.style.flex = String(len);
  return s;
}

function tick(t, end) {
  const s = el("span", "", mmss(t));
  s.style.left = (100 * t / end) + "%";
  return s;
}

function renderSpectrogram(data) {
  const spec = data.spectrogram;
  $("spectrogram").classList.toggle("hidden", !spec);
  if (!spec) return;
  $("spec-img").src = spec.png;
  $("spec-note").textContent = spec.seconds < (data.duration || 0) - 0.5 ? "(first " + mmss(spec.seconds) + ")" : "";
}

function render(data) {
  RESULT = data;
  if (!LABELS.length) LABELS = Object.keys(data.probabilities || {});
  renderAnswer(data);
  renderTimeline(data);
  renderBars(data);
  renderSpectrogram(data);
  $("result").classList.remove("hidden");
  moveCursor();
  document.body.dataset.state = "done";
}

// ---------------------------------------------------------------- playback and the cursor
function entryAt(t) {
  return (RESULT && RESULT.timeline || []).find(s => t >= s.start && t < s.end) || null;
}

function moveCursor() {
  if (!RESULT) return;
  const player = $("player"), t = player.currentTime || 0, end = trackEnd(RESULT);
  const cur = $("timeline-cursor");
  cur.style.display = "block";
  cur.style.left = (100 * Math.min(1, t / end)) + "%";
  cur.dataset.seconds = t.toFixed(2);
  const spec = RESULT.spectrogram, sc = $("spec-cursor");
  if (spec && t <= spec.seconds) {
    const x = spec.axes_left + (spec.axes_right - spec.axes_left) * (t / spec.seconds);
    sc.style.display = "block";
    sc.style.left = (100 * x) + "%";
    sc.style.top = (100 * (spec.axes_top || 0)) + "%";
    sc.style.bottom = (100 * (spec.axes_bottom || 0)) + "%";
  } else {
    sc.style.display = "none";
  }
  const e = entryAt(t);
  $("now").textContent = e ? mmss(t) + " · now: " + labelOf(e) + " " + pct(scoreOf(e)) : "";
}

function follow() {
  moveCursor();
  if (!$("player").paused) requestAnimationFrame(follow);
}

$("player").addEventListener("play", () => requestAnimationFrame(follow));
$("player").addEventListener("timeupdate", moveCursor);
$("player").addEventListener("seeked", moveCursor);
$("timeline-wrap").addEventListener("click", (e) => {
  if (!RESULT) return;
  const box = e.currentTarget.getBoundingClientRect();
  const player = $("player");
  player.currentTime = Math.max(0, (e.clientX - box.left) / box.width) * trackEnd(RESULT);
  player.play().catch(() => {});
});

// ---------------------------------------------------------------- upload
async function upload(file) {
  if (!file) return;
  document.body.dataset.state = "busy";
  setStatus("Classifying " + file.name + " …");
  $("result").classList.add("hidden");
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = URL.createObjectURL(file);
  $("player").src = objectUrl;
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const r = await fetch("/api/classify?timeline=true&spectrogram=true", { method: "POST", body: form });
    const data = await r.json().catch(() => ({ detail: "the server answered " + r.status }));
    if (!r.ok) {
      setStatus(String(data.detail || "the server answered " + r.status), true);  // the detail names the file
      document.body.dataset.state = "error";
      return;
    }
    setStatus("");
    render(data);
  } catch (e) {
    setStatus("Upload of " + file.name + " failed: " + e.message, true);
    document.body.dataset.state = "error";
  }
}

const drop = $("drop");
$("file").addEventListener("change", (e) => upload(e.target.files[0]));
drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
["dragenter", "dragover"].forEach(t => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
["dragleave", "drop"].forEach(t => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
drop.addEventListener("drop", (e) => upload(e.dataTransfer.files[0]));
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => e.preventDefault());
