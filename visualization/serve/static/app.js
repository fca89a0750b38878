// cnnvis explorer page. Every number drawn here is the float32 array the server's library call returned
// (window.cnnvis.maps holds them, for checks); every user string is put in the page with textContent.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = {
    info: null, fw: null, image: null, layer: null, camLayer: null, cls: null,
    methods: new Set(["gradcam"]), preds: null, rows: null, fmaps: null, page: 0, channel: 0, opacity: 0.5,
  };
  const PAGE = 64;
  const maps = {};
  const api = { state, maps, pending: 0, ready: false, errors: [] };
  window.cnnvis = api;

  class Cancelled extends Error {}

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function decode(a) {
    const bin = atob(a.b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return { shape: a.shape, data: new Float32Array(bytes.buffer) };
  }

  async function request(path, opts) {
    const r = await fetch(path, opts);
    let body;
    try { body = await r.json(); } catch (e) { body = { error: r.statusText }; }
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }

  // Run a job on the server; onProgress(progress) while it runs; handle.id is set for cancelling.
  // A quick job answers the POST itself (it waits up to `wait` s); a slow one answers at once and is polled.
  async function run(req, onProgress, handle, wait = 5) {
    api.pending++;
    try {
      let job = await request(`/api/run?wait=${wait}`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(req),
      });
      if (handle) handle.id = job.id;
      while (job.status === "queued" || job.status === "running") {
        if (onProgress) onProgress(job.progress);
        job = await request(`/api/jobs/${encodeURIComponent(job.id)}?wait=0.25`);
      }
      if (job.status === "error") throw new Error(job.error);
      if (job.status === "cancelled") throw new Cancelled("cancelled");
      return job;
    } finally {
      api.pending--;
    }
  }

  function cancel(handle) {
    if (handle && handle.id) fetch(`/api/jobs/${encodeURIComponent(handle.id)}`, { method: "DELETE" }).catch(() => {});
  }

  function setStatus(text) { $("status").textContent = text; }

  // ------------------------------------------------------------------ colour maps
  function clamp01(v) { return v < 0 ? 0 : v > 1 ? 1 : v; }
  function jet(v) {
    return [clamp01(1.5 - Math.abs(4 * v - 3)), clamp01(1.5 - Math.abs(4 * v - 2)), clamp01(1.5 - Math.abs(4 * v - 1))];
  }
  const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function viridis(v) {
    const t = clamp01(v) * (VIRIDIS.length - 1), i = Math.min(Math.floor(t), VIRIDIS.length - 2), f = t - i;
    return VIRIDIS[i].map((c, k) => (c + f * (VIRIDIS[i + 1][k] - c)) / 255);
  }
  function diverging(v) { // v in [-1, 1]: blue - white - red
    return v < 0 ? [1 + v, 1 + v, 1] : [1, 1 - v, 1 - v];
  }

  function paint(canvas, h, w, colour) {
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      const c = colour(i);
      img.data[4 * i] = Math.round(255 * c[0]);
      img.data[4 * i + 1] = Math.round(255 * c[1]);
      img.data[4 * i + 2] = Math.round(255 * c[2]);
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  // ------------------------------------------------------------------ images
  function imageUrl(id) { return `/api/images/${encodeURIComponent(id)}.png`; }

  function addThumb(entry) {
    if (document.querySelector(`#images button[data-id="${CSS.escape(entry.id)}"]`)) return;
    const b = el("button", { type: "button", "data-id": entry.id, title: entry.name, onclick: () => selectImage(entry.id) },
      el("img", { src: imageUrl(entry.id), alt: entry.name }));
    $("images").append(b);
  }

  function selectImage(id) {
    state.image = id;
    for (const b of document.querySelectorAll("#images button")) b.classList.toggle("selected", b.dataset.id === id);
    state.cls = null;
    refreshImageViews();
  }

  async function upload(file) {
    $("upload-error").textContent = "";
    const limit = state.info.limits.upload_bytes;
    if (file.size > limit) { $("upload-error").textContent = `The file is larger than ${limit.toLocaleString()} bytes.`; return; }
    api.pending++;
    try {
      const entry = await request("/api/images", {
        method: "POST", body: file,
        headers: { "Content-Type": file.type || "application/octet-stream", "X-Filename": encodeURIComponent(file.name) },
      });
      addThumb(entry);
      selectImage(entry.id);
    } catch (e) {
      $("upload-error").textContent = e.message;
    } finally {
      api.pending--;
    }
  }

  // ------------------------------------------------------------------ predictions and classes
  function className(c) {
    const names = state.info.class_names;
    return names && c >= 0 && c < names.length ? names[c] : `class ${c}`;
  }

  async function loadPredictions() {
    const key = `${state.fw}|${state.image}`;
    const tbody = $("predictions").querySelector("tbody");
    try {
      const job = await run({ kind: "predict", fw: state.fw, image: state.image });
      if (key !== `${state.fw}|${state.image}`) return;
      state.preds = job.result;
      tbody.replaceChildren(...job.result.top.map((t, i) => el("tr", { "data-index": t.index, onclick: () => chooseClass(t.index) },
        el("td", { text: String(i + 1) }),
        el("td", { text: `${t.name} (${t.index})` }),
        el("td", { text: `${(100 * t.prob).toFixed(1)}%` }),
        el("td", { style: "width:70px" }, el("div", { class: "bar", style: `width:${Math.max(1, 70 * t.prob).toFixed(0)}px` })))));
      fillClassSelect();
    } catch (e) {
      tbody.replaceChildren(el("tr", {}, el("td", { class: "error", text: e.message })));
    }
  }

  function fillClassSelect() {
    const sel = $("class-select");
    const top = state.preds ? state.preds.top : [];
    const opts = [el("option", { value: "", text: top.length ? `predicted: ${top[0].name}` : "predicted" })];
    top.forEach((t, i) => opts.push(el("option", { value: String(t.index), text: `top-${i + 1}: ${t.name} (${t.index})` })));
    if (state.cls !== null && !top.some((t) => t.index === state.cls)) {
      opts.push(el("option", { value: String(state.cls), text: `${className(state.cls)} (${state.cls})` }));
    }
    sel.replaceChildren(...opts);
    sel.value = state.cls === null ? "" : String(state.cls);
  }

  function chooseClass(c) {
    state.cls = c;
    $("class-error").textContent = "";
    fillClassSelect();
    renderPanels();
  }

  function classFromText(text) {
    text = text.trim();
    if (text === "") return null;
    if (/^\d+$/.test(text)) return parseInt(text, 10);
    const names = state.info.class_names || [];
    const i = names.findIndex((n) => n.toLowerCase() === text.toLowerCase());
    if (i < 0) throw new Error(`No class is called "${text}"; give an index or a name from the list.`);
    return i;
  }

  // ------------------------------------------------------------------ explanation panels
  function panelKey(kind, method) {
    const layer = kind === "cam" || method === "guidedgradcam" ? state.camLayer : "";
    return [state.fw, state.image, layer, `${kind}:${method}`, state.cls === null ? "pred" : state.cls].join("|");
  }

  function renderPanels() {
    if (!state.image || !state.fw) return;
    const wanted = [];
    for (const m of state.info.cam_methods) if (state.methods.has(m)) wanted.push(["cam", m]);
    for (const m of state.info.saliency_methods) if (state.methods.has(m)) wanted.push(["saliency", m]);
    const container = $("panels");
    const keep = new Map();
    for (const p of container.children) keep.set(p.dataset.key, p);
    const panels = wanted.map(([kind, method]) => {
      const key = panelKey(kind, method);
      return keep.get(key) || makePanel(key, kind, method);
    });
    for (const [key, p] of keep) if (!panels.includes(p) && p._handle) { cancel(p._handle); }
    container.replaceChildren(...panels);
    applyOpacity();
  }

  function makePanel(key, kind, method) {
    const photo = el("canvas", { class: "photo" });
    const heat = el("canvas", { class: "heat" });
    const cap = el("div", { class: "cap", text: `${method}: computing...` });
    const prog = el("progress", { max: 1, value: 0, hidden: true });
    const cancelBtn = el("button", { type: "button", hidden: true, text: "Cancel" });
    const p = el("div", { class: "panel", "data-key": key, "data-kind": kind, "data-method": method, "data-status": "loading" },
      el("div", { class: "stack" }, photo, heat), cap, el("div", {}, prog, cancelBtn));
    const img = new Image();
    img.onload = () => { photo.width = img.naturalWidth; photo.height = img.naturalHeight; photo.getContext("2d").drawImage(img, 0, 0); };
    img.src = imageUrl(state.image);
    const handle = {};
    p._handle = handle;
    cancelBtn.addEventListener("click", () => cancel(handle));
    const req = { kind, fw: state.fw, image: state.image, method, cls: state.cls };
    if (kind === "cam" || method === "guidedgradcam") req.layer = state.camLayer;
    const slow = state.info.slow_methods.includes(method);
    run(req, (pr) => {
      if (!slow) return;
      prog.hidden = false; cancelBtn.hidden = false;
      prog.max = Math.max(1, pr.total); prog.value = pr.done;
      cap.textContent = `${method}: ${pr.desc || "queued"} ${pr.done}/${pr.total}`;
    }, handle, slow ? 0.2 : 5).then((job) => {
      const r = job.result;
      const m = decode(r.heatmap);
      maps[key] = m;
      const [h, w] = m.shape;
      paint(heat, h, w, (i) => jet(m.data[i]));
      p.dataset.target = String(r.target);
      p.dataset.seconds = String(job.cached ? 0 : job.seconds);
      p.dataset.status = "done";
      cap.textContent = `${r.method} · ${r.class_name} (${r.target})${r.layer ? ` · ${r.layer}` : ""} · ${job.cached ? "cached" : `${job.seconds.toFixed(2)} s`}`;
    }).catch((e) => {
      p.dataset.status = e instanceof Cancelled ? "cancelled" : "error";
      cap.textContent = e instanceof Cancelled ? `${method}: cancelled` : `${method}: ${e.message}`;
      if (!(e instanceof Cancelled)) cap.classList.add("error");
    }).finally(() => { prog.hidden = true; cancelBtn.hidden = true; p._handle = null; });
    return p;
  }

  function applyOpacity() {
    for (const c of document.querySelectorAll(".panel canvas.heat")) c.style.opacity = String(state.opacity);
  }

  // ------------------------------------------------------------------ layers
  async function loadLayers() {
    const fw = state.fw;
    try {
      const job = await run({ kind: "layers", fw });
      if (fw !== state.fw) return;
      state.rows = job.result.rows.filter((r) => r.call === 1);
      $("layer-summary").textContent = job.result.summary;
      if (!state.camLayer || !state.rows.some((r) => r.name === state.camLayer)) state.camLayer = job.result.cam_layer;
      buildTree();
      const sel = $("cam-layer");
      sel.replaceChildren(...state.rows.filter((r) => r.map && r.shape[1] * r.shape[2] > 1).map((r) =>
        el("option", { value: r.name, text: `${r.name} (${r.shape.join("x")})` })));
      sel.value = state.camLayer;
    } catch (e) {
      $("layer-summary").textContent = e.message;
    }
  }

  function buildTree() {
    const byName = new Map(state.rows.map((r) => [r.name, r]));
    const children = new Map([["", []]]);
    const parentOf = (name) => {
      let p = name;
      while (p.includes(".")) { p = p.slice(0, p.lastIndexOf(".")); if (byName.has(p)) return p; }
      return "";
    };
    const order = [...state.rows].sort((a, b) => (a.name.split(".").length - b.name.split(".").length));
    for (const r of order) { if (!children.has(r.name)) children.set(r.name, []); }
    for (const r of state.rows) children.get(parentOf(r.name)).push(r);
    const make = (name, depth) => {
      const ul = el("ul");
      for (const r of children.get(name) || []) {
        const kids = children.get(r.name) || [];
        const tail = r.name.slice(name ? name.length + 1 : 0);
        const sub = kids.length ? make(r.name, depth + 1) : null;
        if (sub && depth >= 0) sub.hidden = true;
        const toggle = el("span", { class: "toggle", text: kids.length ? "▸" : "" });
        const node = el("div", { class: "node", "data-layer": r.name, title: `${r.name}: ${r.type}, params ${r.params.toLocaleString()}, kernel ${r.kernel || "-"}, jump ${r.jump}` },
          toggle, el("span", { class: "n", text: tail }), el("span", { class: "t", text: r.type }),
          el("span", { class: "s", text: r.shape ? r.shape.join("x") : "-" }), el("span", { class: "rf", text: r.field !== "-" ? `RF ${r.field}` : "" }));
        toggle.addEventListener("click", (ev) => {
          ev.stopPropagation();
          if (sub) { sub.hidden = !sub.hidden; toggle.textContent = sub.hidden ? "▸" : "▾"; }
        });
        node.addEventListener("click", () => { if (sub && sub.hidden) { sub.hidden = false; toggle.textContent = "▾"; } selectLayer(r.name); });
        ul.append(el("li", {}, node, sub));
      }
      return ul;
    };
    $("tree").replaceChildren(make("", 0));
    if (state.layer) markLayer();
  }

  function markLayer() {
    for (const n of document.querySelectorAll(".tree .node")) n.classList.toggle("selected", n.dataset.layer === state.layer);
  }

  function selectLayer(name) {
    state.layer = name;
    state.page = 0;
    state.channel = 0;
    markLayer();
    const r = state.rows.find((x) => x.name === name);
    $("layer-name").textContent = name;
    $("layer-info").textContent = r ? `${r.type} · output ${r.shape ? r.shape.join(" x ") : "-"} · ${r.params.toLocaleString()} parameters · kernel/stride ${r.kernel || "-"} · receptive field ${r.field} · jump ${r.jump}` : "";
    loadFeatures();
    loadFilters();
  }

  async function loadFeatures() {
    const key = `${state.fw}|${state.image}|${state.layer}`;
    $("fmaps").replaceChildren(el("span", { class: "muted small", text: "computing..." }));
    try {
      const job = await run({ kind: "features", fw: state.fw, image: state.image, layer: state.layer });
      if (key !== `${state.fw}|${state.image}|${state.layer}`) return;
      state.fmaps = decode(job.result.maps);
      maps[`features|${key}`] = state.fmaps;
      $("channel").max = String(state.fmaps.shape[0] - 1);
      $("am-channel").max = String(state.fmaps.shape[0] - 1);
      $("channel-count").textContent = `${state.fmaps.shape[0]} channels of ${state.fmaps.shape[1]} x ${state.fmaps.shape[2]}`;
      drawFeaturePage();
      showChannel(Math.min(state.channel, state.fmaps.shape[0] - 1));
    } catch (e) {
      $("fmaps").replaceChildren(el("span", { class: "error", text: e.message }));
      state.fmaps = null;
    }
  }

  function channelStats(c) {
    const [, h, w] = state.fmaps.shape;
    const d = state.fmaps.data.subarray(c * h * w, (c + 1) * h * w);
    let lo = Infinity, hi = -Infinity;
    for (const v of d) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return { d, lo, hi };
  }

  function drawFeaturePage() {
    const [C, h, w] = state.fmaps.shape;
    const pages = Math.ceil(C / PAGE);
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    $("page-label").textContent = ` ${state.page * PAGE}-${Math.min(C, (state.page + 1) * PAGE) - 1} `;
    const cells = [];
    for (let c = state.page * PAGE; c < Math.min(C, (state.page + 1) * PAGE); c++) {
      const { d, lo, hi } = channelStats(c);
      const cv = el("canvas");
      const span = hi > lo ? hi - lo : 1;
      paint(cv, h, w, (i) => viridis((d[i] - lo) / span));
      cells.push(el("div", { class: "cell", "data-channel": c, title: `channel ${c}: ${lo.toFixed(3)} .. ${hi.toFixed(3)}`, onclick: () => showChannel(c) },
        cv, el("span", { text: String(c) })));
    }
    $("fmaps").replaceChildren(...cells);
  }

  function showChannel(c) {
    if (!state.fmaps) return;
    const [C, h, w] = state.fmaps.shape;
    c = Math.min(Math.max(0, c | 0), C - 1);
    state.channel = c;
    $("channel").value = String(c);
    if (Math.floor(c / PAGE) !== state.page) { state.page = Math.floor(c / PAGE); drawFeaturePage(); }
    for (const cell of document.querySelectorAll("#fmaps .cell")) cell.classList.toggle("selected", Number(cell.dataset.channel) === c);
    const { d } = channelStats(c);
    const z = [];
    for (let y = 0; y < h; y++) z.push(Array.from(d.subarray(y * w, (y + 1) * w)));
    if (window.Plotly) {
      window.Plotly.react("fmap-plot", [{ z, type: "heatmap", colorscale: "Viridis", hovertemplate: "x %{x}, y %{y}: %{z:.5g}<extra></extra>" }],
        { title: { text: `${state.layer} · channel ${c}`, font: { size: 13 } }, margin: { l: 40, r: 10, t: 30, b: 30 },
          yaxis: { autorange: "reversed", scaleanchor: "x" } }, { displaylogo: false, responsive: true });
    }
  }

  async function loadFilters() {
    const key = `${state.fw}|${state.layer}`;
    $("filters").replaceChildren();
    $("filter-note").textContent = "";
    try {
      const job = await run({ kind: "filters", fw: state.fw, layer: state.layer });
      if (key !== `${state.fw}|${state.layer}`) return;
      const k = decode(job.result.filters);
      maps[`filters|${key}`] = k;
      const [co, ci, kh, kw] = k.shape;
      const n = kh * kw, cells = [];
      for (let o = 0; o < co; o++) {
        const base = o * ci * n;
        const cv = el("canvas");
        let lo = Infinity, hi = -Infinity;
        for (let i = 0; i < ci * n; i++) { const v = k.data[base + i]; if (v < lo) lo = v; if (v > hi) hi = v; }
        if (ci === 3) {
          const span = hi > lo ? hi - lo : 1;
          paint(cv, kh, kw, (i) => [0, 1, 2].map((ch) => (k.data[base + ch * n + i] - lo) / span));
        } else {
          const mean = new Float32Array(n);
          for (let c = 0; c < ci; c++) for (let i = 0; i < n; i++) mean[i] += k.data[base + c * n + i] / ci;
          const m = Math.max(...mean.map(Math.abs)) || 1;
          paint(cv, kh, kw, (i) => diverging(mean[i] / m));
        }
        cells.push(el("div", { class: "cell", title: `filter ${o}: ${lo.toFixed(4)} .. ${hi.toFixed(4)}` }, cv, el("span", { text: String(o) })));
      }
      $("filters").replaceChildren(...cells);
      $("filter-note").textContent = `${co} filters of ${ci} x ${kh} x ${kw}` + (ci === 3 ? " (RGB)" : " (mean over input channels; blue < 0 < red)");
    } catch (e) {
      $("filter-note").textContent = e.message;
    }
  }

  // ------------------------------------------------------------------ activation maximization
  let amHandle = null;
  async function runActmax() {
    if (!state.layer) { $("am-status").textContent = "Click a layer first."; return; }
    const handle = {};
    amHandle = handle;
    $("am-run").disabled = true;
    $("am-cancel").hidden = false;
    $("am-progress").hidden = false;
    $("am-status").textContent = "queued";
    $("am-result").replaceChildren();
    try {
      const job = await run({ kind: "actmax", fw: state.fw, layer: state.layer, channel: Number($("am-channel").value), steps: Number($("am-steps").value) },
        (pr) => { $("am-progress").max = Math.max(1, pr.total); $("am-progress").value = pr.done; $("am-status").textContent = `step ${pr.done}/${pr.total}`; }, handle, 0.2);
      const r = job.result;
      $("am-result").replaceChildren(el("img", { src: `data:image/png;base64,${r.image_png}`, alt: r.objective }),
        el("div", { class: "small", text: `${r.objective}: ${r.value.toFixed(4)} after ${r.history.length} steps${job.cached ? " (cached)" : ""}` }));
      $("am-status").textContent = "done";
    } catch (e) {
      $("am-status").textContent = e instanceof Cancelled ? "cancelled" : e.message;
    } finally {
      $("am-run").disabled = false;
      $("am-cancel").hidden = true;
      $("am-progress").hidden = true;
      amHandle = null;
    }
  }

  // ------------------------------------------------------------------ wiring
  function refreshImageViews() {
    state.preds = null;
    loadPredictions();
    renderPanels();
    if (state.layer) loadFeatures();
  }

  async function switchFramework(fw) {
    state.fw = fw;
    for (const r of document.querySelectorAll("#fw-switch input")) r.checked = r.value === fw;
    setStatus(`framework: ${fw}`);
    await loadLayers();
    loadPredictions();
    renderPanels();
    if (state.layer && state.rows && state.rows.some((r) => r.name === state.layer)) selectLayer(state.layer);
  }

  function methodBoxes(target, names) {
    $(target).replaceChildren(...names.map((m) => el("label", {},
      el("input", { type: "checkbox", value: m, checked: state.methods.has(m), onchange: (ev) => {
        if (ev.target.checked) state.methods.add(m); else state.methods.delete(m);
        renderPanels();
      } }), ` ${m}`)));
  }

  async function init() {
    const info = await request("/api/info");
    state.info = info;
    $("title").textContent = info.title;
    document.title = info.title;
    $("model-name").textContent = Object.entries(info.models).map(([f, m]) => `${f}: ${m}`).join(" · ");
    $("fw-switch").replaceChildren(...info.frameworks.map((f) => el("label", {},
      el("input", { type: "radio", name: "fw", value: f.name, disabled: info.frameworks.length < 2, onchange: () => switchFramework(f.name) }), ` ${f.display}`)));
    for (const im of info.images) addThumb(im);
    methodBoxes("cam-methods", info.cam_methods);
    methodBoxes("saliency-methods", info.saliency_methods);
    if (info.class_names) {
      $("class-names").replaceChildren(...info.class_names.map((n, i) => el("option", { value: n, label: String(i) })));
    }
    $("class-select").addEventListener("change", (ev) => chooseClass(ev.target.value === "" ? null : Number(ev.target.value)));
    $("class-input").addEventListener("change", (ev) => {
      try { chooseClass(classFromText(ev.target.value)); } catch (e) { $("class-error").textContent = e.message; }
    });
    $("cam-layer").addEventListener("change", (ev) => { state.camLayer = ev.target.value; renderPanels(); });
    $("opacity").addEventListener("input", (ev) => { state.opacity = Number(ev.target.value); applyOpacity(); });
    $("channel").addEventListener("change", (ev) => showChannel(Number(ev.target.value)));
    $("prev-page").addEventListener("click", () => { if (state.fmaps) { state.page--; drawFeaturePage(); } });
    $("next-page").addEventListener("click", () => { if (state.fmaps) { state.page++; drawFeaturePage(); } });
    $("am-run").addEventListener("click", runActmax);
    $("am-cancel").addEventListener("click", () => cancel(amHandle));
    $("upload").addEventListener("change", (ev) => { if (ev.target.files.length) upload(ev.target.files[0]); ev.target.value = ""; });
    const drop = $("drop");
    document.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
    document.addEventListener("dragleave", () => drop.classList.remove("over"));
    document.addEventListener("drop", (ev) => {
      ev.preventDefault();
      drop.classList.remove("over");
      const f = ev.dataTransfer && ev.dataTransfer.files[0];
      if (f) upload(f);
    });
    state.fw = info.frameworks[0].name;
    for (const r of document.querySelectorAll("#fw-switch input")) r.checked = r.value === state.fw;
    await loadLayers();
    if (info.images.length) selectImage(info.images[0].id);
    api.ready = true;
  }

  api.switchFramework = switchFramework;
  api.selectLayer = selectLayer;
  api.chooseClass = chooseClass;
  window.addEventListener("DOMContentLoaded", () => init().catch((e) => { setStatus(e.message); api.errors.push(e.message); }));
})();
