// The attention explorer: sends what is typed to POST /api/predict (greedy and beam search),
// draws each answer's attention matrix as a table (source tokens across, output steps down,
// </s> last; for a model with layers and heads, the map chosen in heads.js), and the run's
// settings and learning curves from GET /api/run. Plain DOM, no framework.
"use strict";

const DEBOUNCE_MS = 250;
const HEAT = [29, 78, 216];  // the colour of weight 1; weight w is this at opacity w
const $ = (selector) => document.querySelector(selector);

const state = { run: null, sequence: 0, timer: null, controller: null, outputs: {} };  // outputs: shown, by decoder

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function heat(weight) {
  return `rgba(${HEAT[0]}, ${HEAT[1]}, ${HEAT[2]}, ${weight})`;
}

// A token as a label: a space is shown as ␣, a tab as ⇥, so char tokens stay visible.
function label(token) {
  return token.replace(/ /g, "\u2423").replace(/\t/g, "\u21e5");
}

// ---------------------------------------------------------------------------------------
// The heatmap

// What heatmap draws of a model with one map (the chapter's decoder): output.attention.
function plainPicture(decoder, output) {
  const who = whose(decoder);
  const size = `${output.steps.length} output steps × ${output.source_tokens.length} source tokens`;
  return { weights: output.attention, across: output.source_tokens, down: output.steps,
           acrossName: "source token", downName: "output step", caption: `attention of ${who}: ${size}` };
}

// Whose attention a panel draws: "greedy decoding" or "the best hypothesis".
function whose(decoder) {
  return decoder === "greedy" ? "greedy decoding" : "the best hypothesis";
}

function tokenClass(token) {
  return token === "<unk>" ? " unk" : token === "</s>" || token === "<s>" ? " eos" : "";
}

// A map as a table, in a figure with its caption under it: picture.weights (a row per
// picture.down label, a weight per picture.across label); hovering lights a row or a column.
function heatmap(decoder, picture) {
  const { weights, across, down, acrossName, downName } = picture;
  // word tokens stand upright in their column headers; characters (and <unk>) stay level
  const wide = across.some((t) => t.length > 1 && !["<unk>", "<s>"].includes(t));
  const table = el("table", { class: "heatmap" + (wide ? " wide" : ""), "data-decoder": decoder });
  const head = el("tr", {}, el("th", { class: "corner", scope: "col", title: `${downName}s down, ${acrossName}s across`,
                                       text: "↓ →" }));
  across.forEach((token, col) => {
    head.append(el("th", { class: "src" + tokenClass(token), scope: "col", "data-col": col, tabindex: 0,
                           title: `${acrossName} ${col + 1}: ${JSON.stringify(token)}` },
                   el("span", { text: label(token) })));
  });
  table.append(el("thead", {}, head));
  const body = el("tbody");
  down.forEach((token, row) => body.append(heatmapRow(picture, token, row)));
  table.append(body);
  table.addEventListener("mouseover", (event) => hover(table, weights, event.target.closest("[data-row],[data-col]")));
  table.addEventListener("mouseleave", () => hover(table, weights, null));
  table.addEventListener("focusin", (event) => hover(table, weights, event.target));  // the keyboard too (Tab)
  table.addEventListener("focusout", () => hover(table, weights, null));
  const caption = el("figcaption", {}, el("span", { text: picture.caption }),
    el("span", { class: "scale", text: "weight 0" }, el("span", { class: "ramp" }), "1"));
  return el("figure", { class: "map" }, table, caption);
}

function heatmapRow(picture, token, row) {
  const tr = el("tr", { "data-row": row },
                el("th", { class: "out" + tokenClass(token), scope: "row", "data-row": row, tabindex: 0,
                           title: `${picture.downName} ${row + 1}: ${JSON.stringify(token)}`, text: label(token) }));
  picture.weights[row].forEach((w, col) => {
    const cell = el("td", { "data-row": row, "data-col": col, "data-weight": w,
                            title: `${JSON.stringify(token)} ← ${JSON.stringify(picture.across[col])}: ${w.toFixed(3)}` });
    cell.style.backgroundColor = heat(w);
    tr.append(cell);
  });
  return tr;
}

// Light one row (an output step, and the source tokens by its weights) or one column (a
// source token, and the output steps by their weight on it); a null target clears.
function hover(table, weights, target) {
  for (const node of table.querySelectorAll(".lit, .focus")) {
    node.classList.remove("lit", "focus", "dark");
    if (node.tagName === "TH" && node.dataset.weight !== undefined) {
      node.removeAttribute("data-weight");
      node.style.removeProperty("background-color");
    }
  }
  table.classList.remove("row-mode", "col-mode");
  if (!target) return;
  if (target.tagName === "TD" || target.matches("th.out")) {
    const row = Number(target.dataset.row);
    table.classList.add("row-mode");
    table.querySelectorAll(`tbody td[data-row="${row}"]`).forEach((td) => td.classList.add("lit"));
    table.querySelector(`th.out[data-row="${row}"]`).classList.add("focus");
    table.querySelectorAll("th.src").forEach((th) => light(th, weights[row][Number(th.dataset.col)]));
    if (target.tagName === "TD") table.querySelector(`th.src[data-col="${target.dataset.col}"]`).classList.add("focus");
  } else if (target.matches("th.src")) {
    const col = Number(target.dataset.col);
    table.classList.add("col-mode");
    table.querySelectorAll(`tbody td[data-col="${col}"]`).forEach((td) => td.classList.add("lit"));
    target.classList.add("focus");
    table.querySelectorAll("th.out").forEach((th) => light(th, weights[Number(th.dataset.row)][col]));
  }
}

function light(th, weight) {
  th.classList.add("lit");
  th.dataset.weight = weight;
  th.style.backgroundColor = heat(weight);
  th.classList.toggle("dark", weight > 0.5);
}

// ---------------------------------------------------------------------------------------
// Predictions

function panel(decoder) {
  return decoder === "greedy" ? $("#greedy") : $("#beam-search");
}

function show(decoder, output) {
  const article = panel(decoder);
  const text = article.querySelector(".output");
  text.replaceChildren(output.text ? el("span", { class: "text", text: output.text })
                                   : el("span", { class: "placeholder", text: "∅ (the model ended at once)" }));
  if (output.score !== null) text.append(el("span", { class: "score", text: `score ${output.score.toFixed(4)}` }));
  if (output.unseen.length) {
    text.append(el("span", { class: "note", text: `unseen: ${output.unseen.map((t) => JSON.stringify(t)).join(" ")} → <unk>` }));
  }
  state.outputs[decoder] = output;
  drawAttention(article, decoder, output);
}

function showNbest(output, greedyText) {
  const list = $("#nbest-list");
  list.replaceChildren(...output.alternatives.map((alt, i) =>
    el("li", { class: i === 0 ? "best" : "" },
       el("span", { class: "text", text: alt.text || "∅" }),
       el("span", { class: "score", text: alt.score === null ? "" : alt.score.toFixed(4) }))));
  const differs = greedyText !== null && output.text !== greedyText;
  $("#beam-search").classList.toggle("differs", differs);
  if (differs) $("[data-output=beam]").append(el("span", { class: "note differs-note", text: "differs from greedy" }));
}

function clear() {
  state.outputs = {};
  for (const article of document.querySelectorAll(".decoder")) {
    article.querySelector(".output").replaceChildren(el("span", { class: "placeholder", text: "—" }));
    article.querySelector(".heatmap-wrap").replaceChildren();
    article.querySelector(".heads-wrap").replaceChildren();
  }
  $("#nbest-list").replaceChildren();
}

function showError(message) {
  const box = $("#error");
  box.hidden = message === null;
  box.textContent = message || "";
}

async function post(body, signal) {
  const response = await fetch("/api/predict", { method: "POST", signal,
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
  return answer;
}

function settings() {
  const max = state.run ? state.run.limits.max_beam : 16;
  const beam = Math.min(Math.max(parseInt($("#beam").value, 10) || 1, 1), max);
  const nbest = Math.min(Math.max(parseInt($("#nbest").value, 10) || 1, 1), beam);
  return { beam, nbest, unk: $("#unk").checked };
}

async function predict() {
  const text = $("#source").value;
  const sequence = ++state.sequence;
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  if (!text) { clear(); showError(null); $("#status").textContent = ""; return; }
  const { beam, nbest, unk } = settings();
  $("#beam-how").textContent = beam === 1 ? "beam 1 is greedy decoding" : `the best of ${beam} hypotheses kept at each step`;
  $("#status").textContent = "decoding…";
  document.body.classList.add("busy");
  try {
    const signal = state.controller.signal;
    const [greedy, beamed] = await Promise.all([
      post({ inputs: [text], beam: 1, attention: true, maps: [view.kind], unk }, signal),
      post({ inputs: [text], beam, nbest, attention: true, maps: [view.kind], unk }, signal)]);
    if (sequence !== state.sequence) return;  // something newer was typed meanwhile
    showError(null);
    show("greedy", greedy.outputs[0]);
    show("beam", beamed.outputs[0]);
    showNbest(beamed.outputs[0], greedy.outputs[0].text);
    const ms = (s) => `${(1000 * s).toFixed(0)} ms`;
    $("#status").textContent = `greedy ${ms(greedy.seconds)} · beam ${beam} ${ms(beamed.seconds)}`;
  } catch (error) {
    if (error.name === "AbortError" || sequence !== state.sequence) return;
    clear();
    showError(error.message);
    $("#status").textContent = "";
  } finally {
    if (sequence === state.sequence) document.body.classList.remove("busy");
  }
}

function schedule() {
  clearTimeout(state.timer);
  state.timer = setTimeout(predict, DEBOUNCE_MS);
}

// ---------------------------------------------------------------------------------------
// The run: summary, settings and learning curves

// The main settings: the data's, the run's own model's (GET /api/run's model_settings), training's.
const DATA_KEYS = ["task", "model", "source_tokens", "target_tokens"];
const TRAINING_KEYS = ["epochs", "batch_size", "optimizer", "lr", "warmup_steps", "seed"];

function configTable(table, config, keys) {
  table.replaceChildren(...keys.filter((key) => key in config).map((key) =>
    el("tr", {}, el("th", { text: key }), el("td", { text: JSON.stringify(config[key]) }))));
}

// A small line chart of history[key] by epoch, as SVG.
function chart(history, series, title, format) {
  const W = 300, H = 160, L = 44, R = 10, T = 36, B = 26, NS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(NS, "svg");
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  add("text", { x: L, y: 14, class: "chart-title" }, title);
  const values = series.flatMap((s) => history.map((h) => h[s.key]).filter((v) => typeof v === "number"));
  if (!values.length) { add("text", { x: L, y: H / 2 }, "no history"); return svg; }
  let lo = Math.min(...values), hi = Math.max(...values);
  if (hi - lo < 1e-9) { lo -= 0.5; hi += 0.5; }
  const epochs = history.map((h) => h.epoch);
  const e0 = Math.min(...epochs), e1 = Math.max(...epochs);
  const x = (e) => L + (e1 === e0 ? (W - L - R) / 2 : (e - e0) / (e1 - e0) * (W - L - R));
  const y = (v) => T + (hi - v) / (hi - lo) * (H - T - B);
  add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
  add("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
  for (const v of [lo, (lo + hi) / 2, hi]) {
    add("text", { x: L - 4, y: y(v) + 3, class: "tick", "text-anchor": "end" }, format(v));
    add("line", { x1: L, y1: y(v), x2: W - R, y2: y(v), class: "grid" });
  }
  const step = Math.max(1, Math.ceil((e1 - e0 + 1) / 8));
  for (let e = e0; e <= e1; e += step) add("text", { x: x(e), y: H - B + 14, class: "tick", "text-anchor": "middle" }, e);
  add("text", { x: W - R, y: H - 2, class: "tick", "text-anchor": "end" }, "epoch");
  series.forEach((s, i) => {
    const points = history.filter((h) => typeof h[s.key] === "number").map((h) => `${x(h.epoch)},${y(h[s.key])}`);
    add("polyline", { points: points.join(" "), class: `series s${i}` });
    for (const p of points) { const [cx, cy] = p.split(","); add("circle", { cx, cy, r: 2.5, class: `dot s${i}` }); }
    add("text", { x: W - R, y: 12 + 11 * i, class: `legend s${i}`, "text-anchor": "end" }, s.name);
  });
  return svg;
}

function showRun(run) {
  state.run = run;
  const c = run.config;
  const epochs = run.history.length;
  const last = run.history[epochs - 1];
  const best = run.history.reduce((a, h) => (a === null || h.valid_exact_match > a.valid_exact_match ? h : a), null);
  $("#run-summary").textContent = `${run.run_dir} · ${c.model}${modelSummary(run)}` +
    ` · ${c.source_tokens} → ${c.target_tokens} tokens · vocabulary ${run.vocab.source} / ${run.vocab.target}` +
    (best ? ` · validation exact match ${(100 * best.valid_exact_match).toFixed(2)} % (epoch ${best.epoch} of ${epochs})` : "");
  const keys = [...DATA_KEYS, ...run.model_settings, ...TRAINING_KEYS, "source_vocabulary", "target_vocabulary"];
  configTable($("#config"), { ...c, source_vocabulary: run.vocab.source, target_vocabulary: run.vocab.target },
              [...new Set(keys)]);
  configTable($("#config-all"), c, Object.keys(c));
  const pct = (v) => `${(100 * v).toFixed(v > 0.999 || v < 0.001 ? 0 : 1)}%`;
  if (!last) {
    $("#curves").replaceChildren(el("p", { class: "no-history", text: "No epoch recorded in history.json yet: no learning curves." }));
  } else $("#curves").replaceChildren(
    chart(run.history, [{ key: "train_loss", name: "training loss" }], "loss", (v) => v.toFixed(2)),
    chart(run.history, [{ key: "valid_exact_match", name: "exact match" },
                        { key: "valid_token_error_rate", name: "token error rate" }], "validation", pct));
  $("#beam").max = run.limits.max_beam;
  $("#nbest").max = run.limits.max_beam;
  $("#source").maxLength = run.limits.max_input_chars;
  setUpKinds(run);
}

// " (dot attention)", " (2 layers × 4 heads)" or ", no attention".
function modelSummary(run) {
  const cross = run.map_grid.cross;
  if (!run.has_attention) return ", no attention";
  if (!cross) return ` (${run.config.attention} attention)`;
  const heads = Math.max(...Object.values(cross).map((h) => h.length));
  return ` (${Object.keys(cross).length} layers × ${heads} heads)`;
}

async function start() {
  for (const id of ["#source", "#beam", "#nbest"]) $(id).addEventListener("input", schedule);
  $("#unk").addEventListener("change", schedule);
  try {
    const response = await fetch("/api/run");
    showRun(await response.json());
  } catch (error) {
    showError(`cannot read the run: ${error.message}`);
  }
  if ($("#source").value) schedule();
}

start();
