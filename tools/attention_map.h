// gpt-generate --attention-map: what the model attended to, as one
// self-contained HTML page (no network) or as JSON for scripts.
//
// Input: the tokens' labels and Session::attention() of a session that
// processed them with capture on (n_layer * n_head maps [N, N]).
//
// The page embeds the probabilities of every layer and head as bytes
// (round(255 p), lower triangle and all, base64) and draws with canvas:
// a heatmap of the chosen layer and head (or the average over heads), the
// heads of that layer as thumbnails, and for one chosen token what it
// attends to in every layer, with the text shaded by attention.
#pragma once

#include <cmath>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpt/error.h"
#include "gpt/types.h"

namespace gpt::cli {

struct AttentionMapInput {
  std::string title;                   // model file name
  std::vector<std::string> labels;     // one per position
  std::int64_t n_prompt = 0;           // positions before the generated ones
  std::int64_t n_layer = 0, n_head = 0;
  const std::vector<RowMatrix>* maps = nullptr;  // n_layer * n_head, each [N, N]
};

inline std::string base64(const std::vector<std::uint8_t>& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < in.size(); i += 3) {
    const std::uint32_t b0 = in[i], b1 = i + 1 < in.size() ? in[i + 1] : 0, b2 = i + 2 < in.size() ? in[i + 2] : 0;
    const std::uint32_t v = (b0 << 16) | (b1 << 8) | b2;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? k[v & 63] : '=';
  }
  return out;
}

// JSON: {"model", "tokens", "n_prompt", "n_layer", "n_head",
// "attention": [layer][head][query][key]} with 5 decimals.
inline void write_attention_json(const std::string& path, const AttentionMapInput& a) {
  nlohmann::json j;
  j["model"] = a.title;
  j["tokens"] = a.labels;
  j["n_prompt"] = a.n_prompt;
  j["n_layer"] = a.n_layer;
  j["n_head"] = a.n_head;
  nlohmann::json layers = nlohmann::json::array();
  for (std::int64_t l = 0; l < a.n_layer; ++l) {
    nlohmann::json heads = nlohmann::json::array();
    for (std::int64_t h = 0; h < a.n_head; ++h) {
      const RowMatrix& m = (*a.maps)[static_cast<std::size_t>(l * a.n_head + h)];
      nlohmann::json rows = nlohmann::json::array();
      for (Eigen::Index i = 0; i < m.rows(); ++i) {
        nlohmann::json row = nlohmann::json::array();
        for (Eigen::Index k = 0; k <= i; ++k) row.push_back(std::round(m(i, k) * 1e5) / 1e5);
        rows.push_back(std::move(row));
      }
      heads.push_back(std::move(rows));
    }
    layers.push_back(std::move(heads));
  }
  j["attention"] = std::move(layers);
  j["note"] = "attention[layer][head][query] lists the probabilities of keys 0..query (later keys are masked)";
  std::ofstream out(path, std::ios::binary);
  if (!out) throw IoError(path, "cannot open for writing");
  out << j.dump() << "\n";
  if (!out) throw IoError(path, "write failed");
}

inline const char* kAttentionPage = R"PAGE(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Attention map</title>
<style>
:root { --bg:#0f1419; --panel:#171d24; --fg:#e6e8eb; --dim:#8b949e; --acc:#f0a030; --gen:#58a6ff; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; }
header { padding:14px 20px; border-bottom:1px solid #2a323c; display:flex; gap:24px; align-items:baseline; flex-wrap:wrap; }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .meta { color:var(--dim); }
main { display:grid; grid-template-columns: minmax(420px, 1fr) 380px; gap:16px; padding:16px 20px; }
.panel { background:var(--panel); border:1px solid #2a323c; border-radius:8px; padding:12px; }
.panel h2 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--dim); margin:0 0 10px; font-weight:600; }
.controls { display:flex; gap:16px; align-items:center; flex-wrap:wrap; margin-bottom:10px; }
.controls label { color:var(--dim); }
input[type=range] { width:220px; accent-color:var(--acc); }
.heads { display:flex; gap:6px; flex-wrap:wrap; }
.heads canvas { border:2px solid transparent; border-radius:4px; cursor:pointer; background:#000; }
.heads canvas.sel { border-color:var(--acc); }
.heads .avg { font-size:11px; color:var(--dim); text-align:center; }
#wrap { position:relative; overflow:auto; max-height:78vh; }
#heat { display:block; cursor:crosshair; }
#tip { position:fixed; pointer-events:none; background:#000d; border:1px solid #444; border-radius:4px; padding:4px 8px; font-size:12px; display:none; white-space:pre; }
.text { line-height:2; word-break:break-word; }
.text span { padding:2px 1px; border-radius:3px; cursor:pointer; white-space:pre-wrap; }
.text span.q { outline:2px solid var(--acc); }
.text span.g { color:var(--gen); }
.legend { color:var(--dim); font-size:12px; margin-top:8px; }
#layers { display:block; margin-top:6px; }
</style></head>
<body>
<header><h1>Attention map</h1><span class="meta" id="meta"></span></header>
<main>
<section class="panel">
  <div class="controls">
    <label>Layer <input type="range" id="layer" min="0" value="0"> <b id="layerv"></b></label>
    <label><input type="checkbox" id="avg"> average over heads</label>
    <label><input type="checkbox" id="gamma" checked> boost faint weights (√p)</label>
  </div>
  <div class="heads" id="heads"></div>
  <h2 style="margin-top:12px">Queries (rows) attend to keys (columns) — click a row to follow that token</h2>
  <div id="wrap"><canvas id="heat"></canvas></div>
  <div class="legend">Prompt tokens in white, generated tokens in blue. Each row sums to 1; masked (future) keys are empty.</div>
</section>
<section class="panel">
  <h2>Token <span id="qname"></span> in every layer</h2>
  <canvas id="layers"></canvas>
  <div class="legend">Rows: layers 0 (top) to last; columns: the keys it can see. Head: <span id="headname"></span>.</div>
  <h2 style="margin-top:16px">What it attends to (this layer)</h2>
  <div class="text" id="text"></div>
</section>
</main>
<div id="tip"></div>
<script id="data" type="application/json">@DATA@</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const N = D.tokens.length, L = D.n_layer, H = D.n_head;
const raw = Uint8Array.from(atob(D.p), c => c.charCodeAt(0));
const at = (l, h, i, k) => raw[((l * H + h) * N + i) * N + k] / 255;
let layer = L - 1, head = 0, avg = false, q = N - 1, gamma = true;
const $ = id => document.getElementById(id);
$("meta").textContent = `${D.title} · ${D.n_prompt} prompt + ${N - D.n_prompt} generated tokens · ${L} layers × ${H} heads`;
$("layer").max = L - 1; $("layer").value = layer;
const shown = (l, h, i, k) => avg ? meanHeads(l, i, k) : at(l, h, i, k);
function meanHeads(l, i, k) { let s = 0; for (let h = 0; h < H; ++h) s += at(l, h, i, k); return s / H; }
const STOPS = [[0, [11, 15, 20]], [0.2, [59, 15, 112]], [0.45, [140, 41, 129]], [0.7, [222, 73, 104]],
               [0.88, [254, 159, 109]], [1, [252, 253, 191]]];  // dark to light
function color(p) {
  const t = Math.min(1, Math.max(0, gamma ? Math.sqrt(p) : p));
  let a = STOPS[0], b = STOPS[STOPS.length - 1];
  for (let s = 1; s < STOPS.length; ++s) if (t <= STOPS[s][0]) { a = STOPS[s - 1]; b = STOPS[s]; break; }
  const f = (t - a[0]) / Math.max(1e-9, b[0] - a[0]);
  const c = a[1].map((v, i) => Math.round(v + f * (b[1][i] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
const label = s => s.replace(/\n/g, "⏎").replace(/\t/g, "⇥").replace(/ /g, "·") || "∅";
function drawHeat() {
  const c = $("heat"), ctx = c.getContext("2d");
  const cell = Math.max(6, Math.min(28, Math.floor(900 / N))), pad = 110;
  c.width = pad + N * cell + 4; c.height = pad + N * cell + 4;
  ctx.fillStyle = "#0b0f14"; ctx.fillRect(0, 0, c.width, c.height);
  for (let i = 0; i < N; ++i) for (let k = 0; k <= i; ++k) {
    ctx.fillStyle = color(shown(layer, head, i, k));
    ctx.fillRect(pad + k * cell, pad + i * cell, cell - (cell > 8 ? 1 : 0), cell - (cell > 8 ? 1 : 0));
  }
  ctx.font = `${Math.min(12, cell)}px ui-monospace, monospace`; ctx.textBaseline = "middle";
  for (let i = 0; i < N; ++i) {
    ctx.fillStyle = i === q ? "#f0a030" : (i >= D.n_prompt ? "#58a6ff" : "#c9d1d9");
    ctx.textAlign = "right"; ctx.fillText(label(D.tokens[i]).slice(0, 14), pad - 6, pad + i * cell + cell / 2);
    ctx.save(); ctx.translate(pad + i * cell + cell / 2, pad - 6); ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "left"; ctx.fillText(label(D.tokens[i]).slice(0, 14), 0, 0); ctx.restore();
  }
  ctx.strokeStyle = "#f0a030"; ctx.lineWidth = 2; ctx.strokeRect(pad - 1, pad + q * cell - 1, (q + 1) * cell + 1, cell + 1);
  c.onmousemove = e => {
    const r = c.getBoundingClientRect(), k = Math.floor((e.clientX - r.left - pad) / cell), i = Math.floor((e.clientY - r.top - pad) / cell);
    const tip = $("tip");
    if (i < 0 || k < 0 || i >= N || k >= N || k > i) { tip.style.display = "none"; return; }
    tip.textContent = `${label(D.tokens[i])} → ${label(D.tokens[k])}\np = ${shown(layer, head, i, k).toFixed(4)}`;
    tip.style.display = "block"; tip.style.left = (e.clientX + 14) + "px"; tip.style.top = (e.clientY + 14) + "px";
  };
  c.onmouseleave = () => { $("tip").style.display = "none"; };
  c.onclick = e => {
    const r = c.getBoundingClientRect(), i = Math.floor((e.clientY - r.top - pad) / cell);
    if (i >= 0 && i < N) { q = i; drawAll(); }
  };
}
function drawHeads() {
  const box = $("heads"); box.innerHTML = "";
  const s = Math.max(1, Math.floor(72 / N)) , size = s * N;
  for (let h = -1; h < H; ++h) {
    const c = document.createElement("canvas"); c.width = size; c.height = size;
    c.title = h < 0 ? "average over heads" : `head ${h}`;
    const ctx = c.getContext("2d"); ctx.fillStyle = "#0b0f14"; ctx.fillRect(0, 0, size, size);
    for (let i = 0; i < N; ++i) for (let k = 0; k <= i; ++k) {
      ctx.fillStyle = color(h < 0 ? meanHeads(layer, i, k) : at(layer, h, i, k)); ctx.fillRect(k * s, i * s, s, s);
    }
    if ((h < 0 && avg) || (h === head && !avg)) c.className = "sel";
    c.onclick = () => { if (h < 0) avg = true; else { avg = false; head = h; } $("avg").checked = avg; drawAll(); };
    const wrap = document.createElement("div"); wrap.appendChild(c);
    const cap = document.createElement("div"); cap.className = "avg"; cap.textContent = h < 0 ? "avg" : "h" + h; wrap.appendChild(cap);
    box.appendChild(wrap);
  }
}
function drawLayers() {
  const c = $("layers"), ctx = c.getContext("2d");
  const w = Math.max(2, Math.floor(356 / (q + 1))), rh = Math.max(4, Math.min(14, Math.floor(360 / L)));
  c.width = w * (q + 1); c.height = rh * L;
  for (let l = 0; l < L; ++l) for (let k = 0; k <= q; ++k) {
    ctx.fillStyle = color(shown(l, head, q, k)); ctx.fillRect(k * w, l * rh, w, rh - (rh > 5 ? 1 : 0));
  }
  ctx.strokeStyle = "#f0a030"; ctx.strokeRect(0.5, layer * rh + 0.5, c.width - 1, rh - 1);
  $("qname").textContent = `“${label(D.tokens[q])}” (position ${q})`;
  $("headname").textContent = avg ? "average over heads" : "head " + head;
}
function drawText() {
  const box = $("text"); box.innerHTML = "";
  for (let k = 0; k < N; ++k) {
    const s = document.createElement("span"); s.textContent = D.tokens[k];
    if (k <= q) { const p = shown(layer, head, q, k); s.style.background = `rgba(240,160,48,${Math.min(1, (gamma ? Math.sqrt(p) : p) * 1.2).toFixed(3)})`; s.title = p.toFixed(4); }
    else s.style.opacity = 0.35;
    if (k === q) s.className = "q"; else if (k >= D.n_prompt) s.className = "g";
    s.onclick = () => { q = k; drawAll(); };
    box.appendChild(s);
  }
}
function drawAll() { $("layerv").textContent = layer; drawHeads(); drawHeat(); drawLayers(); drawText(); }
$("layer").oninput = e => { layer = +e.target.value; drawAll(); };
$("avg").onchange = e => { avg = e.target.checked; drawAll(); };
$("gamma").onchange = e => { gamma = e.target.checked; drawAll(); };
drawAll();
</script>
</body></html>
)PAGE";

inline void write_attention_html(const std::string& path, const AttentionMapInput& a) {
  const std::int64_t n = static_cast<std::int64_t>(a.labels.size());
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(a.n_layer * a.n_head * n * n), 0);
  for (std::int64_t m = 0; m < a.n_layer * a.n_head; ++m) {
    const RowMatrix& p = (*a.maps)[static_cast<std::size_t>(m)];
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t k = 0; k <= i; ++k)
        bytes[static_cast<std::size_t>((m * n + i) * n + k)] =
            static_cast<std::uint8_t>(std::lround(std::clamp(p(i, k), 0.0f, 1.0f) * 255.0f));
  }
  nlohmann::json d;
  d["title"] = a.title;
  d["tokens"] = a.labels;
  d["n_prompt"] = a.n_prompt;
  d["n_layer"] = a.n_layer;
  d["n_head"] = a.n_head;
  d["p"] = base64(bytes);
  std::string data = d.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (std::size_t at = 0; (at = data.find("</", at)) != std::string::npos; at += 3) data.replace(at, 2, "<\\/");
  std::string page = kAttentionPage;
  page.replace(page.find("@DATA@"), 6, data);
  std::ofstream out(path, std::ios::binary);
  if (!out) throw IoError(path, "cannot open for writing");
  out << page;
  if (!out) throw IoError(path, "write failed");
}

}  // namespace gpt::cli
