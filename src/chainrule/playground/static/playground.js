// chainrule playground: the page's side of the WebSocket protocol (see server.py's docstring).
// Plain JavaScript, no libraries: it sends settings and commands, and draws what comes back.
"use strict";

const UPLOAD_LIMIT = 2 * 1024 * 1024;
const POS = [43, 123, 185];   // blue: positive weights, class 1
const NEG = [232, 116, 59];   // orange: negative weights, class 0
const $ = (id) => document.getElementById(id);

const state = {
  ws: null, network: null, points: null, frame: null, upload: null,
  history: [], selected: null, lastExplained: null, playing: false,
};

// --- numbers and settings ----------------------------------------------------------------
function sig9(x) {
  // at most 9 significant digits, as explain prints numbers (0.298371109, 0.35891648)
  return x === null || x === undefined ? "–" : String(Number(Number(x).toPrecision(9)));
}

function numberOrText(text) {
  // A number if the text is one; otherwise the text itself, so the server names the mistake.
  const t = String(text).trim();
  return /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : t;
}

function settings() {
  const dataset = $("dataset").value;
  const hidden = $("hidden").value.trim();
  const batch = $("batch").value.trim();
  const s = {
    dataset,
    hidden: hidden === "" ? [] : hidden.split(/[\s,]+/).filter((w) => w).map(numberOrText),
    activation: $("activation").value,
    loss: $("loss").value,
    optimizer: $("optimizer").value,
    lr: numberOrText($("lr").value),
    batch_size: batch === "" || batch === "all" ? null : numberOrText(batch),
    seed: numberOrText($("seed").value),
  };
  if (dataset === "csv") s.upload = state.upload;
  if (dataset === "worked-example") { delete s.hidden; delete s.activation; delete s.batch_size; }
  return s;
}

// --- messages ----------------------------------------------------------------------------
function showError(message) { const e = $("error"); e.textContent = message; e.hidden = false; }
function clearError() { $("error").hidden = true; $("error").textContent = ""; }

function send(message) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    showError("not connected to the playground server; reload the page");
    return;
  }
  state.ws.send(JSON.stringify(message));
}

function configure() {
  clearError();
  if ($("dataset").value === "csv" && !state.upload) {
    showError("choose a CSV file: 2 numeric feature columns and the target in the last column");
    return;
  }
  send({ type: "configure", settings: settings() });
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => configure();
  ws.onclose = () => showError("the connection to the playground server closed; reload the page");
  ws.onmessage = (event) => {
    const m = JSON.parse(event.data);
    if (m.type === "ready") onReady(m);
    else if (m.type === "frame") onFrame(m);
    else if (m.type === "state") onState(m);
    else if (m.type === "explanation") onExplanation(m);
    else if (m.type === "error") showError(m.message);
  };
}

function onReady(m) {
  state.network = m.network;
  state.points = m.points;
  state.history = [];
  state.selected = null;
  const n = m.network;
  $("network-caption").textContent =
    `${n.sizes.join("–")} · ${n.activation} · ${n.loss} · ${n.optimizer} η=${n.lr}` +
    ` · batch ${n.batch_size ?? "all"}`;
  $("boundary-caption").textContent = n.task === "classification"
    ? "P(class 1) over the input plane; ○ validation" : "out_o1 over the input plane";
  $("explain-caption").textContent = "click a weight";
  $("explain-summary").textContent = "";
  $("explain-notes").textContent = "";
  $("explanation").textContent = "";
  buildNetwork();
}

function onState(m) {
  state.playing = m.playing;
  $("play").classList.toggle("active", m.playing);
}

function onFrame(f) {
  state.frame = f;
  const h = state.history, point = { epoch: f.epoch, loss: f.loss, val: f.val_loss };
  if (!h.length || f.epoch === 0 || f.epoch < h[h.length - 1].epoch) state.history = [point];
  else if (f.epoch > h[h.length - 1].epoch) h.push(point);
  $("epoch").textContent = f.epoch;
  $("steps").textContent = f.steps;
  $("loss-value").textContent = sig9(f.loss);
  $("val-loss-value").textContent = sig9(f.val_loss);
  $("accuracy").textContent = f.accuracy === null ? "–" :
    `${(100 * f.accuracy).toFixed(1)}%` +
    (f.val_accuracy === null ? "" : ` (val ${(100 * f.val_accuracy).toFixed(1)}%)`);
  $("loss-change").textContent = f.loss_before === null ? "–" :
    `${sig9(f.loss_before)} → ${sig9(f.loss)}`;
  drawBoundary(f.boundary);
  drawUnits(f);
  drawEdges(f);
  drawChart();
}

// --- colours -----------------------------------------------------------------------------
function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }
function diverging(byte) {
  // 0 → orange, 128 → white, 255 → blue
  const t = byte / 255 * 2 - 1;
  return t < 0 ? mix([255, 255, 255], NEG, -t) : mix([255, 255, 255], POS, t);
}
function decode(b64) {
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}
function paintGrid(canvas, bytes, size, colour) {
  canvas.width = size; canvas.height = size;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(size, size);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      const [R, G, B] = colour(bytes[r * size + c]);
      const k = ((size - 1 - r) * size + c) * 4;  // rows come from the bottom of the plane
      img.data[k] = R; img.data[k + 1] = G; img.data[k + 2] = B; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
}

// --- the boundary ------------------------------------------------------------------------
const scratch = document.createElement("canvas");
function drawBoundary(b) {
  const canvas = $("boundary");
  const ctx = canvas.getContext("2d");
  const colour = (v) => {
    const t = v / 255 * 2 - 1;  // soft colours: the points must stand out
    return t < 0 ? mix([255, 255, 255], NEG, -t * 0.65) : mix([255, 255, 255], POS, t * 0.65);
  };
  paintGrid(scratch, decode(b.data), b.size, colour);
  ctx.imageSmoothingEnabled = true;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(scratch, 0, 0, canvas.width, canvas.height);
  const p = state.points;
  if (!p) return;
  const [x0, x1, y0, y1] = p.extent;
  const W = canvas.width, H = canvas.height;
  const classification = state.network && state.network.task === "classification";
  for (let i = 0; i < p.x.length; i++) {
    const x = (p.x[i] - x0) / (x1 - x0) * W;
    const y = H - (p.y[i] - y0) / (y1 - y0) * H;
    const c = classification ? (p.label[i] >= 0.5 ? POS : NEG) : [60, 60, 60];
    ctx.beginPath();
    ctx.arc(x, y, p.x.length > 1 ? 3 : 5, 0, 2 * Math.PI);
    if (p.split[i] === "val") {
      ctx.strokeStyle = `rgb(${c})`; ctx.lineWidth = 1.5; ctx.stroke();
    } else {
      ctx.fillStyle = `rgb(${c})`; ctx.fill();
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.stroke();
    }
  }
}

// --- the network -------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
const UNIT = 32;
function layout() {
  const box = $("network");
  const W = box.clientWidth || 480, H = box.clientHeight || 380;
  const sizes = state.network.sizes;
  const top = 26, bottom = 16;
  return sizes.map((n, k) => {
    const x = 30 + k * (W - 60 - UNIT) / (sizes.length - 1) + UNIT / 2;
    const gap = Math.min(54, (H - top - bottom) / n);
    const y0 = top + (H - top - bottom - gap * n) / 2 + gap / 2;
    return Array.from({ length: n }, (_, j) => ({ x, y: y0 + j * gap }));
  });
}

function buildNetwork() {
  const box = $("network");
  box.textContent = "";
  const n = state.network;
  const pos = layout();
  const svg = document.createElementNS(SVG, "svg");
  box.appendChild(svg);
  n.weights.forEach((names, layer) => {
    const k = layer + 1, cols = n.sizes[layer];
    names.forEach((name, index) => {
      const row = Math.floor(index / cols), col = index % cols;
      const a = pos[k - 1][col], b = pos[k][row];
      const g = document.createElementNS(SVG, "g");
      g.setAttribute("class", "edge");
      g.dataset.param = name;
      const [x1, y1, x2, y2] = [a.x + UNIT / 2, a.y, b.x - UNIT / 2, b.y];
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("class", "show");
      line.setAttribute("x1", x1); line.setAttribute("y1", y1);
      line.setAttribute("x2", x2); line.setAttribute("y2", y2);
      // what a click hits: a band 9 px wide along the line (a level line alone has no height)
      const len = Math.hypot(x2 - x1, y2 - y1) || 1;
      const nx = -(y2 - y1) / len * 4.5, ny = (x2 - x1) / len * 4.5;
      const hit = document.createElementNS(SVG, "polygon");
      hit.setAttribute("class", "hit");
      hit.setAttribute("points", [[x1 + nx, y1 + ny], [x2 + nx, y2 + ny], [x2 - nx, y2 - ny],
                                  [x1 - nx, y1 - ny]].map((p) => p.join(",")).join(" "));
      g.append(line, hit);
      const title = document.createElementNS(SVG, "title");
      g.appendChild(title);
      g.addEventListener("click", () => select(name));
      svg.appendChild(g);
    });
  });
  const titles = n.sizes.map((_, k) => k === 0 ? "inputs" : k === n.sizes.length - 1 ? "outputs"
    : n.sizes.length === 3 ? "hidden" : `hidden ${k}`);
  pos.forEach((column, k) => {
    const head = document.createElement("div");
    head.className = "layer-title";
    head.style.left = `${column[0].x}px`;
    head.textContent = titles[k];
    box.appendChild(head);
    column.forEach((p, j) => {
      const c = document.createElement("canvas");
      c.className = k === 0 ? "unit input" : "unit";
      c.style.left = `${p.x - UNIT / 2}px`; c.style.top = `${p.y - UNIT / 2}px`;
      c.width = 1; c.height = 1;
      const unit = n.units[k][j];
      c.dataset.unit = unit;
      if (k > 0) {
        c.dataset.param = n.biases[k - 1][j];
        c.title = `${unit}: click for ∂E/∂${c.dataset.param}`;
        c.addEventListener("click", () => select(c.dataset.param));
      } else {
        c.title = `${unit}: the input ${unit === "i1" ? "x1" : "x2"} itself`;
      }
      box.appendChild(c);
      const label = document.createElement("div");
      label.className = "label";
      label.style.left = `${p.x}px`; label.style.top = `${p.y + UNIT / 2 + 1}px`;
      label.textContent = unit;
      box.appendChild(label);
    });
  });
}

function drawUnits(f) {
  const n = state.network;
  if (!n) return;
  const size = f.unit_size;
  // the inputs: x1 and x2 themselves, left to right and bottom to top
  const inputs = [new Uint8Array(size * size), new Uint8Array(size * size)];
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      inputs[0][r * size + c] = Math.round(c / (size - 1) * 255);
      inputs[1][r * size + c] = Math.round(r / (size - 1) * 255);
    }
  }
  const canvases = $("network").querySelectorAll("canvas.unit");
  let i = 0;
  n.sizes.forEach((width, k) => {
    for (let j = 0; j < width; j++, i++) {
      const bytes = k === 0 ? inputs[j] : decode(f.units[k - 1][j].data);
      paintGrid(canvases[i], bytes, size, diverging);
    }
  });
}

function drawEdges(f) {
  const all = f.weights.flatMap((layer) => layer.w.map(Math.abs));
  const biggest = Math.max(1e-12, ...all);
  document.querySelectorAll("#network .edge").forEach((g) => {
    const [layer, index] = locate(g.dataset.param);
    const w = f.weights[layer].w[index];
    const line = g.querySelector(".show");
    line.setAttribute("stroke", `rgb(${w >= 0 ? POS : NEG})`);
    line.setAttribute("stroke-width", (0.5 + 5.5 * Math.abs(w) / biggest).toFixed(2));
    line.setAttribute("stroke-opacity", (0.35 + 0.6 * Math.abs(w) / biggest).toFixed(2));
    g.querySelector("title").textContent = `${g.dataset.param} = ${sig9(w)}`;
  });
  document.querySelectorAll("#network canvas.unit[data-param]").forEach((c) => {
    const [layer, index] = locate(c.dataset.param);
    const b = f.weights[layer].b[index];
    c.title = `${c.dataset.unit}: ${c.dataset.param} = ${sig9(b)}; click for ∂E/∂${c.dataset.param}`;
  });
}

function locate(param) {
  const n = state.network;
  for (let k = 0; k < n.weights.length; k++) {
    let i = n.weights[k].indexOf(param);
    if (i >= 0) return [k, i];
    i = n.biases[k].indexOf(param);
    if (i >= 0) return [k, i];
  }
  return [0, 0];
}

// --- the loss chart ----------------------------------------------------------------------
function drawChart() {
  const canvas = $("chart");
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 4, head = 16;
  ctx.clearRect(0, 0, W, H);
  const h = state.history;
  if (h.length < 1) return;
  const values = h.flatMap((p) => [p.loss, p.val]).filter((v) => v !== null && isFinite(v));
  const top = Math.max(...values) || 1;
  const last = Math.max(1, h[h.length - 1].epoch);
  const X = (e) => pad + (W - 2 * pad) * (e / last);
  const Y = (v) => H - pad - (H - pad - head) * (v / top);
  for (const [key, colour, dash] of [["val", "#999", [4, 3]], ["loss", "#222", []]]) {
    ctx.beginPath(); ctx.setLineDash(dash); ctx.strokeStyle = colour; ctx.lineWidth = 1.5;
    let started = false;
    for (const p of h) {
      const v = p[key];
      if (v === null || !isFinite(v)) continue;
      if (started) ctx.lineTo(X(p.epoch), Y(v)); else ctx.moveTo(X(p.epoch), Y(v));
      started = true;
    }
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.fillStyle = "#666"; ctx.font = "10px system-ui, sans-serif";
  ctx.fillText(`loss ${Number(top.toPrecision(3))}`, 6, 11);
  ctx.fillText(`epoch ${h[h.length - 1].epoch}`, W - 60, H - 6);
}

// --- the chain rule ----------------------------------------------------------------------
function select(param) {
  state.selected = param;
  document.querySelectorAll("#network .selected").forEach((e) => e.classList.remove("selected"));
  document.querySelectorAll(`#network [data-param="${param}"]`)
    .forEach((e) => e.classList.add("selected"));
  explainSelected();
}

function explainSelected() {
  if (!state.selected) return;
  clearError();
  $("explain-caption").textContent = `∂E/∂${state.selected}: working…`;
  send({ type: "explain", param: state.selected, sample: numberOrText($("sample").value),
         notation: $("notation").value });
}

function onExplanation(m) {
  const arrow = m.direction === "down" ? "↓ lowered" : m.direction === "up" ? "↑ raised"
    : m.direction === "fixed" ? "fixed (not updated)" : "unchanged";
  // the parameter and the error as the text writes them: w5 and E, or w⁽²⁾₁₁ and C₀
  const dE = `∂${m.error_symbol}/∂${m.symbol}`;
  $("explain-caption").textContent = `${dE} for training sample ${m.sample}`;
  const summary = $("explain-summary");
  summary.textContent = "";
  const line1 = document.createElement("div");
  line1.textContent = `${dE} = ${sig9(m.grad)}   (δ used: ${m.delta})`;
  const line2 = document.createElement("div");
  const sign = m.grad < 0 ? `(${sig9(m.grad)})` : sig9(m.grad);
  line2.textContent = `${m.symbol}⁺ = ${m.symbol} − η·${dE} = ${sig9(m.before)} − ` +
    `${m.lr} × ${sign} = ${sig9(m.after)}  `;
  const dir = document.createElement("span");
  dir.className = m.direction;
  dir.textContent = arrow;
  line2.appendChild(dir);
  summary.append(line1, line2);
  const notes = $("explain-notes");
  notes.textContent = "";
  for (const text of m.notes) {
    const li = document.createElement("li");
    li.textContent = text;
    notes.appendChild(li);
  }
  showDerivation(m.text, m.symbol, m.error_symbol);
}

function showDerivation(text, symbol, error) {
  // The text as explain --focus writes it, its chain-rule product and update marked.
  const pre = $("explanation");
  pre.textContent = "";
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const name = escape(symbol);
  const mine = new RegExp(`^\\s*(∂${escape(error)}/∂${name} =|${name}⁺ =)`);
  const lines = text.split("\n");
  let marking = false;
  lines.forEach((line) => {
    // a line about `param`, and the lines continuing its equation ("   = ...")
    marking = mine.test(line) || (marking && /^\s+=/.test(line));
    if (marking) {
      const mark = document.createElement("mark");
      mark.textContent = line;
      pre.appendChild(mark);
    } else {
      pre.appendChild(document.createTextNode(line));
    }
    pre.appendChild(document.createTextNode("\n"));
  });
  pre.scrollTop = 0;
}

// --- uploads -----------------------------------------------------------------------------
async function uploadFile(file) {
  clearError();
  if (file.size > UPLOAD_LIMIT) {
    showError(`${file.name} is larger than the limit of ${UPLOAD_LIMIT / 1024 / 1024} MB`);
    return;
  }
  const response = await fetch(`/upload?name=${encodeURIComponent(file.name)}`,
                               { method: "POST", body: file });
  let body = {};
  try { body = await response.json(); } catch (e) { body = { error: response.statusText }; }
  if (!response.ok) { showError(body.error || `upload failed (${response.status})`); return; }
  state.upload = body.id;
  configure();
}

// --- wiring ------------------------------------------------------------------------------
const DEFAULTS = { lr: "0.1", batch: "10" };
function datasetChanged() {
  const d = $("dataset").value;
  const worked = d === "worked-example";
  $("csv-row").hidden = d !== "csv";
  for (const id of ["hidden", "activation", "batch"]) $(id).disabled = worked;
  if (worked) {
    $("lr").value = "0.5"; $("batch").value = ""; $("optimizer").value = "sgd";
    $("loss").value = "auto";
  } else if ($("lr").value === "0.5" && $("batch").value === "") {
    $("lr").value = DEFAULTS.lr; $("batch").value = DEFAULTS.batch;
  }
  if (worked || d !== "csv" || state.upload) configure();
  else showError("choose a CSV file: 2 numeric feature columns and the target in the last column");
}

window.addEventListener("DOMContentLoaded", () => {
  $("dataset").addEventListener("change", datasetChanged);
  for (const id of ["hidden", "activation", "loss", "optimizer", "lr", "batch", "seed"]) {
    $(id).addEventListener("change", configure);
  }
  $("csv").addEventListener("change", (e) => { if (e.target.files[0]) uploadFile(e.target.files[0]); });
  const play = () => send({ type: "play", speed: $("speed").value ? Number($("speed").value) : null });
  $("play").addEventListener("click", () => { clearError(); play(); });
  $("speed").addEventListener("change", () => { if (state.playing) play(); });
  $("pause").addEventListener("click", () => send({ type: "pause" }));
  $("step").addEventListener("click", () => { clearError(); send({ type: "step" }); });
  $("reset").addEventListener("click", () => { clearError(); send({ type: "reset" }); });
  $("sample").addEventListener("change", explainSelected);
  $("notation").addEventListener("change", explainSelected);
  window.addEventListener("resize", () => { if (state.network) { buildNetwork(); if (state.frame) onFrame(state.frame); } });
  connect();
});
