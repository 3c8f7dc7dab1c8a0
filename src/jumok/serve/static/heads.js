// The attention explorer's views of a model's maps by kind, layer and head (jumok.maps): for a
// model whose maps are named kind/L/H (a Transformer), a grid of small heatmaps per decoder,
// a row per layer and a column per head, and a last column with the mean over that layer's
// heads (computed here from the API's per-head maps); the chosen one is drawn large by
// explorer.js's heatmap, with its hover highlighting. The kind (cross, enc-self, dec-self) is
// asked of POST /api/predict through "maps". Loaded before explorer.js, whose helpers (el,
// heat, heatmap, state) these functions call.
"use strict";

const KIND_TITLES = { "cross": "cross-attention", "enc-self": "encoder self-attention",
                      "dec-self": "decoder self-attention" };
const KIND_HINTS = {
  "cross": "Hover an output token (a row) to see where it looked in the source; hover a source " +
           "token (a column) to see which outputs looked at it.",
  "enc-self": "Hover a source token down the side (a row) to see which source tokens it read; hover " +
              "one across the top (a column) to see which read it.",
  "dec-self": "Hover an output step (a row) to see which of the tokens fed so far it read (never a " +
              "later one: the decoder's self-attention is causal); hover a fed token (a column) to " +
              "see which steps read it.",
};
const START_TOKEN = "<s>";  // the first token fed to the decoder (jumok.maps.START)
const THUMB_PX = 96;  // a small map's longer side, about, in CSS pixels
const view = { kind: "cross", layer: null, head: "mean" };  // the chosen map, shared by both panels

// {layer: [heads]} of the chosen kind's maps, or null when they are not named by layer and head.
function grid() {
  const grids = (state.run && state.run.map_grid) || {};
  return grids[view.kind] || null;
}

// Keep the chosen layer and head where the grid has them; else the last layer's mean.
function settleChoice(layers) {
  const names = Object.keys(layers);
  if (!names.includes(String(view.layer))) view.layer = Number(names[names.length - 1]);
  if (view.head !== "mean" && !layers[view.layer].includes(view.head)) view.head = "mean";
}

// The labels across and down of a map of the chosen kind (jumok.maps.map_axes).
function axes(output) {
  if (view.kind === "enc-self") return { across: output.source_tokens, down: output.source_tokens,
                                         acrossName: "source token", downName: "source token" };
  if (view.kind === "dec-self") return { across: [START_TOKEN, ...output.steps.slice(0, -1)], down: output.steps,
                                         acrossName: "token fed", downName: "output step" };
  return { across: output.source_tokens, down: output.steps, acrossName: "source token", downName: "output step" };
}

// The element-wise mean of equally shaped maps.
function meanMap(maps) {
  return maps[0].map((row, r) => row.map((_, c) => maps.reduce((sum, m) => sum + m[r][c], 0) / maps.length));
}

// One layer's map: head `head`'s as the API sent it, or the mean over the layer's heads.
function layerMap(output, layers, layer, head) {
  if (head !== "mean") return output.maps[`${view.kind}/${layer}/${head}`];
  return meanMap(layers[layer].map((h) => output.maps[`${view.kind}/${layer}/${h}`]));
}

function what(layer, head) {
  const title = KIND_TITLES[view.kind];
  return head === "mean" ? `${title}, layer ${layer}, mean over its heads` : `${title}, layer ${layer}, head ${head}`;
}

// A small heatmap of `weights` on a canvas, one square of a few pixels per weight.
function thumbnail(weights) {
  const rows = weights.length, cols = weights[0].length;
  const px = Math.max(2, Math.min(8, Math.floor(THUMB_PX / Math.max(rows, cols))));
  const canvas = el("canvas", { width: cols * px, height: rows * px });
  const context = canvas.getContext("2d");
  weights.forEach((row, r) => row.forEach((w, c) => {
    context.fillStyle = heat(w);
    context.fillRect(c * px, r * px, px, px);
  }));
  return canvas;
}

function headButton(output, layers, layer, head) {
  const chosen = Number(layer) === view.layer && head === view.head;
  const button = el("button", { type: "button", class: "head" + (chosen ? " chosen" : ""), "data-layer": layer,
                                "data-head": head, "aria-pressed": String(chosen), title: what(layer, head) },
                    thumbnail(layerMap(output, layers, layer, head)));
  button.addEventListener("click", () => choose(Number(layer), head));
  return button;
}

// The grid of small maps of one decoder's output: a row per layer, a column per head, the mean last.
function headsGrid(decoder, output, layers) {
  const heads = [...new Set(Object.values(layers).flat())].sort((a, b) => a - b);
  const table = el("table", { class: "heads", "data-grid": decoder, "data-kind": view.kind });
  table.append(el("thead", {}, el("tr", {}, el("th", {}),
    ...heads.map((h) => el("th", { scope: "col", text: `head ${h}` })), el("th", { scope: "col", text: "mean" }))));
  const body = el("tbody");
  for (const layer of Object.keys(layers)) {
    const cells = [...heads, "mean"].map((h) => el("td", {},
      h === "mean" || layers[layer].includes(h) ? headButton(output, layers, layer, h) : ""));
    body.append(el("tr", {}, el("th", { scope: "row", text: `layer ${layer}` }), ...cells));
  }
  table.append(body);
  return table;
}

// What explorer.js's heatmap draws for the chosen layer and head of `output`'s maps.
function chosenPicture(decoder, output, layers) {
  const weights = layerMap(output, layers, view.layer, view.head);
  const { across, down, acrossName, downName } = axes(output);
  const who = whose(decoder);
  const size = `${down.length} ${downName}s × ${across.length} ${acrossName}s`;
  return { weights, across, down, acrossName, downName, caption: `${what(view.layer, view.head)}, of ${who}: ${size}` };
}

function sentence(text) {
  return el("p", { class: "no-attention", text });
}

// Draw one decoder's attention for the chosen kind: the grid and the chosen map large, the
// one map of a model without layers and heads, or a sentence saying there is nothing to draw.
function drawAttention(article, decoder, output) {
  const gridWrap = article.querySelector(".heads-wrap"), wrap = article.querySelector(".heatmap-wrap");
  const model = state.run ? state.run.config.model : "?", layers = grid();
  gridWrap.replaceChildren();
  if (state.run && !state.run.has_attention) {
    wrap.replaceChildren(sentence(`This model (${model}) has no attention, so there is no heatmap to show.`));
  } else if (layers) {
    settleChoice(layers);
    const title = `${KIND_TITLES[view.kind]} by layer and head: click one to draw it large`;
    gridWrap.replaceChildren(el("p", { class: "heads-title", text: title }), headsGrid(decoder, output, layers));
    wrap.replaceChildren(heatmap(decoder, chosenPicture(decoder, output, layers)));
  } else if (view.kind === "cross" && output.attention) {
    wrap.replaceChildren(heatmap(decoder, plainPicture(decoder, output)));
  } else {
    wrap.replaceChildren(sentence(`This model (${model}) has no ${KIND_TITLES[view.kind]} maps, so there is ` +
                                  "nothing to show here."));
  }
}

// Clicking a small map: draw it large in both panels (no new request).
function choose(layer, head) {
  view.layer = layer;
  view.head = head;
  for (const [decoder, output] of Object.entries(state.outputs)) drawAttention(panel(decoder), decoder, output);
}

// The kind selector: shown for a model with attention; a change asks for that kind's maps.
function setUpKinds(run) {
  const box = $("#kinds");
  box.hidden = !run.has_attention;
  view.kind = box.querySelector("input[name=kind]:checked").value;  // as the browser may have kept it
  for (const input of box.querySelectorAll("input[name=kind]")) {
    input.addEventListener("change", () => {
      view.kind = input.value;
      $("#hint").textContent = hint();
      clear();
      predict();
    });
  }
  $("#hint").textContent = hint();
}

function hint() {
  const choosing = grid() ? " Click a small map to draw that layer's head large; mean is the mean over the " +
                            "layer's heads." : "";
  return `${KIND_HINTS[view.kind]} Colour intensity is the attention weight.${choosing}`;
}
