// mextk annotate: the frame-exact, keyboard-driven player.
//
// Frames come from the server by number (/api/tasks/T/frame/K: the decoded frame K, lossless), never from
// <video> seeking.  Keys: Left/Right one frame, Shift+Left/Right ten frames, G jump to a frame, Space play or
// pause, [ and ] slower/faster (0.1x, 0.25x, 0.5x, 1x), L loop the marked segment, I onset, A apex, O offset,
// 1-9 class (key frames: I/A/O only; action units: U or the box, type "4+7, R12", Enter; Esc leaves the box),
// P take the next proposed segment into the marks (stage 1 only; then Enter keeps it, or correct it first),
// D difference from onset, M motion magnified against onset (4x, 8x, 16x, off), Enter add the segment (or submit when none is being marked), Ctrl+Z undo,
// N next task.
"use strict";

(function () {
  const csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  const SPEEDS = [0.1, 0.25, 0.5, 1];
  const MAGNIFY = [0, 4, 8, 16];  // the magnified view's alpha, cycled by M (0: off)
  const MARK_KINDS = ["segment", "keyframes"];  // tasks where I/A/O mark frames
  const AU_KINDS = ["aus", "reconcile"];  // tasks answered with action units
  const CLASS_KINDS = ["segment", "classify", "choose"];  // tasks where 1-9 pick a class

  async function api(method, url, body) {
    const opts = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(url, opts);
    const data = (r.headers.get("content-type") || "").includes("json") ? await r.json() : null;
    if (!r.ok) throw new Error((data && data.error) || r.statusText);
    return data;
  }

  async function nextTask() {
    const r = await api("POST", "/api/next");
    if (r.task) window.location = "/task/" + r.task;
    else alert("No task left for you.");
  }

  const nextButton = document.getElementById("next");
  if (nextButton) nextButton.addEventListener("click", nextTask);

  const root = document.getElementById("player");
  if (!root) {
    document.addEventListener("keydown", (e) => { if (e.key === "n" || e.key === "N") nextTask(); });
    return;
  }

  const taskId = root.dataset.task;
  const state = { view: null, k: 0, speed: 3, playing: false, loop: false, diff: false, magnify: 0,
                  mark: { onset: null, apex: null, offset: null, label: null }, segments: [], history: [],
                  choice: null, other: false, proposal: 0 };
  const cache = new Map();

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  const info = el("p", { id: "frame-info" });
  const views = el("div", { class: "views" });
  const onsetCanvas = el("canvas", { id: "onset-view", width: 256, height: 256 });
  const currentCanvas = el("canvas", { id: "current-view", width: 256, height: 256 });
  views.append(el("figure", {}, ""), el("figure", {}, ""));
  views.children[0].append(onsetCanvas, el("figcaption", {}, "onset frame"));
  views.children[1].append(currentCanvas, el("figcaption", { id: "current-caption" }, "current frame"));
  const timeline = el("canvas", { id: "timeline", width: 660, height: 14, title: "red: no face; orange: head turned" });
  const classes = el("ol", { id: "classes" });
  const list = el("ul", { id: "segments" });
  const status = el("p", { id: "status", role: "status" });
  const shown = el("div", { id: "shown" });
  const auBox = el("input", { id: "aus", type: "text", placeholder: "action units, e.g. 4+7+R12 (U)", size: "36",
                              autocomplete: "off", spellcheck: "false" });
  const auForm = el("p", { id: "au-form" });
  auForm.append(el("label", { for: "aus" }, "AUs "), auBox);
  root.append(info, views, timeline, shown, classes, auForm, list, status);
  let quality = [];

  function image(k) {
    if (!cache.has(k)) {
      cache.set(k, new Promise((resolve, reject) => {
        const img = new Image();
        img.onload = () => resolve(img);
        img.onerror = reject;
        img.src = "/api/tasks/" + taskId + "/frame/" + k;
      }));
    }
    return cache.get(k);
  }

  // the views are read back for the difference and magnified views: ask for a CPU-side canvas up front
  const context = (canvas) => canvas.getContext("2d", { willReadFrequently: true });

  let drawn = 0;  // the latest draw wins: frames load out of order when stepping fast, and a late frame
                  // must never replace the one asked for last
  async function draw() {
    const v = state.view;
    const ticket = ++drawn;
    const onsetK = state.mark.onset !== null ? state.mark.onset : v.first;
    const [cur, ons] = await Promise.all([image(state.k), image(onsetK)]);
    if (ticket !== drawn) return;
    for (const [canvas, img] of [[currentCanvas, cur], [onsetCanvas, ons]]) {
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      context(canvas).drawImage(img, 0, 0);
    }
    if (state.diff || state.magnify) {
      const c = context(currentCanvas);
      const a = c.getImageData(0, 0, currentCanvas.width, currentCanvas.height);
      const b = context(onsetCanvas).getImageData(0, 0, onsetCanvas.width, onsetCanvas.height);
      if (state.diff) {
        for (let i = 0; i < a.data.length; i += 4) {
          for (let ch = 0; ch < 3; ch++) a.data[i + ch] = Math.min(255, 4 * Math.abs(a.data[i + ch] - b.data[i + ch]));
        }
      } else {
        magnify(a, b, MAGNIFY[state.magnify]);
      }
      c.putImageData(a, 0, 0);
    }
    currentCanvas.dataset.frame = String(state.k);
    drawTimeline();
    const m = state.mark;
    info.textContent = `frame ${state.k} (${v.first}-${v.last}) · ${SPEEDS[state.speed]}x` +
      (state.playing ? " · playing" : "") + (state.loop ? " · loop" : "") + (state.diff ? " · difference" : "") +
      (state.magnify ? ` · magnified ${MAGNIFY[state.magnify]}x` : "") +
      (v.kind === "segment" ? ` · onset ${m.onset ?? "-"} apex ${m.apex ?? "-"} offset ${m.offset ?? "-"}` +
        ` class ${m.label ?? "-"}` :
        v.kind === "keyframes" ? ` · onset ${m.onset ?? "-"} apex ${m.apex ?? "-"} offset ${m.offset ?? "-"}` :
        AU_KINDS.includes(v.kind) ? "" : ` · class ${state.choice ?? "-"}`);
  }

  // Linear Eulerian magnification (Wu et al., SIGGRAPH 2012) against the onset frame: the change from onset is
  // low-passed in space (a 5-tap binomial filter [1 4 6 4 1]/16 along rows, then columns, edges repeated) and
  // added back `alpha` times: shown = clamp(round(current + alpha * blur(current - onset)), 0, 255).
  function magnify(cur, ons, alpha) {
    const w = cur.width, h = cur.height, taps = [1, 4, 6, 4, 1];
    const d = new Float32Array(w * h), t = new Float32Array(w * h);
    for (let ch = 0; ch < 3; ch++) {
      for (let i = 0; i < w * h; i++) d[i] = cur.data[4 * i + ch] - ons.data[4 * i + ch];
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        let acc = 0;
        for (let j = -2; j <= 2; j++) acc += taps[j + 2] * d[y * w + Math.min(w - 1, Math.max(0, x + j))];
        t[y * w + x] = acc / 16;
      }
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
        let acc = 0;
        for (let j = -2; j <= 2; j++) acc += taps[j + 2] * t[Math.min(h - 1, Math.max(0, y + j)) * w + x];
        const i = y * w + x;
        cur.data[4 * i + ch] = Math.min(255, Math.max(0, Math.round(cur.data[4 * i + ch] + alpha * acc / 16)));
      }
    }
  }

  function drawTimeline() {
    const v = state.view, c = timeline.getContext("2d"), w = timeline.width, h = timeline.height;
    const x = (k) => ((k - v.first) / Math.max(1, v.last - v.first + 1)) * w;
    const step = w / Math.max(1, v.last - v.first + 1);
    c.fillStyle = "#ddd"; c.fillRect(0, 0, w, h);
    for (const q of quality) {
      if (!q.face_visible) { c.fillStyle = "#c33"; c.fillRect(x(q.frame), 0, Math.max(1, step), h); }
      else if (q.turned) { c.fillStyle = "#e90"; c.fillRect(x(q.frame), 0, Math.max(1, step), h); }
    }
    c.fillStyle = "#36c";
    for (const m of [state.mark.onset, state.mark.offset]) if (m !== null) c.fillRect(x(m), 0, 2, h);
    c.fillStyle = "#000"; c.fillRect(x(state.k), 0, 2, h);
  }

  function go(k) {
    const v = state.view;
    state.k = Math.max(v.first, Math.min(v.last, k));
    draw();
  }

  let timer = null;
  function play(on) {
    state.playing = on;
    clearTimeout(timer);
    if (on) tick();
    draw();
  }
  function tick() {
    if (!state.playing) return;
    const v = state.view;
    const lo = state.loop && state.mark.onset !== null ? state.mark.onset : v.first;
    const hi = state.loop && state.mark.offset !== null ? state.mark.offset : v.last;
    let k = state.k + 1;
    if (k > hi) { if (state.loop) k = lo; else { play(false); return; } }
    go(k);
    timer = setTimeout(tick, 1000 / (v.fps * SPEEDS[state.speed]));
  }

  function remember() { state.history.push(JSON.stringify({ mark: state.mark, segments: state.segments,
                                                             choice: state.choice })); }
  function undo() {
    const last = state.history.pop();
    if (!last) return;
    const s = JSON.parse(last);
    state.mark = s.mark; state.segments = s.segments; state.choice = s.choice;
    renderSegments(); draw();
  }

  function options() {
    const v = state.view;
    if (v.kind === "choose" && !state.other) return v.choices.concat(v.allow_other ? ["another class"] : []);
    return v.classes;
  }

  function renderClasses() {
    classes.replaceChildren(...options().map((c, i) => el("li", { "data-key": String(i + 1) }, `${i + 1} ${c}`)));
  }
  function renderSegments() {
    list.replaceChildren(...state.segments.map((s) =>
      el("li", {}, `${s.label}: ${s.onset}-${s.offset}` + (s.apex !== null ? ` (apex ${s.apex})` : ""))));
  }

  function pick(i) {
    const opts = options();
    if (i >= opts.length) return;
    remember();
    if (state.view.kind === "choose" && !state.other && opts[i] === "another class") {
      state.other = true; renderClasses(); return;
    }
    if (state.view.kind === "segment") state.mark.label = opts[i]; else state.choice = opts[i];
    draw();
  }

  function segmentReady() {
    const m = state.mark;
    if (m.onset === null || m.offset === null || m.label === null) return "mark onset (I), offset (O) and a class";
    if (m.onset > m.offset) return "the onset is after the offset";
    if (!state.view.no_apex_classes.includes(m.label)) {
      if (m.apex === null) return "a " + m.label + " segment needs an apex (A)";
      if (m.apex < m.onset || m.apex > m.offset) return "the apex is outside the segment";
    }
    return null;
  }

  async function enter() {
    const v = state.view;
    try {
      if (v.kind === "segment") {
        const marking = Object.values(state.mark).some((x) => x !== null);
        if (marking) {
          const problem = segmentReady();
          if (problem) { status.textContent = problem; return; }
          remember();
          const m = state.mark;
          state.segments.push({ onset: m.onset, apex: v.no_apex_classes.includes(m.label) ? null : m.apex,
                                offset: m.offset, label: m.label });
          state.mark = { onset: null, apex: null, offset: null, label: null };
          renderSegments(); draw();
          status.textContent = "segment added; Enter again submits the clip";
          return;
        }
        await api("POST", "/api/tasks/" + taskId + "/segments", { segments: state.segments });
      } else if (v.kind === "keyframes") {
        const m = state.mark;
        if (m.onset === null || m.apex === null || m.offset === null) {
          status.textContent = "mark onset (I), apex (A) and offset (O)"; return;
        }
        if (!(m.onset <= m.apex && m.apex <= m.offset)) { status.textContent = "need onset <= apex <= offset"; return; }
        await api("POST", "/api/tasks/" + taskId + "/keyframes", { onset: m.onset, apex: m.apex, offset: m.offset });
      } else if (AU_KINDS.includes(v.kind)) {
        await api("POST", "/api/tasks/" + taskId + "/aus", { aus: auBox.value });
      } else {
        if (state.choice === null) { status.textContent = "choose a class with its number"; return; }
        await api("POST", "/api/tasks/" + taskId + "/label", { label: state.choice });
      }
      status.textContent = "submitted";
      auBox.blur();  // the player's keys (N for the next task) work again
      nextTask();
    } catch (err) {
      status.textContent = "not saved: " + err.message;
    }
  }

  auBox.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); enter(); }
    else if (e.key === "Escape") { e.preventDefault(); auBox.blur(); }
    else e.stopPropagation();  // typing in the box is not a player key
  });

  document.addEventListener("keydown", (e) => {
    if (!state.view) return;
    const k = e.key;
    if (AU_KINDS.includes(state.view.kind) && (k === "u" || k === "U")) { e.preventDefault(); auBox.focus(); return; }
    if ((e.ctrlKey || e.metaKey) && (k === "z" || k === "Z")) { e.preventDefault(); undo(); return; }
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (k === "ArrowRight") { e.preventDefault(); go(state.k + (e.shiftKey ? 10 : 1)); }
    else if (k === "ArrowLeft") { e.preventDefault(); go(state.k - (e.shiftKey ? 10 : 1)); }
    else if (k === " ") { e.preventDefault(); play(!state.playing); }
    else if (k === "[") { state.speed = Math.max(0, state.speed - 1); draw(); }
    else if (k === "]") { state.speed = Math.min(SPEEDS.length - 1, state.speed + 1); draw(); }
    else if (k === "l" || k === "L") { state.loop = !state.loop; draw(); }
    else if (k === "d" || k === "D") { state.diff = !state.diff; state.magnify = 0; draw(); }
    else if (k === "m" || k === "M") { state.magnify = (state.magnify + 1) % MAGNIFY.length; state.diff = false; draw(); }
    else if (k === "g" || k === "G") {
      const to = prompt("go to frame", String(state.k));
      if (to !== null && /^\d+$/.test(to.trim())) go(parseInt(to, 10));
    } else if (MARK_KINDS.includes(state.view.kind) && (k === "i" || k === "I")) { remember(); state.mark.onset = state.k; draw(); }
    else if (MARK_KINDS.includes(state.view.kind) && (k === "a" || k === "A")) { remember(); state.mark.apex = state.k; draw(); }
    else if (MARK_KINDS.includes(state.view.kind) && (k === "o" || k === "O")) { remember(); state.mark.offset = state.k; draw(); }
    else if (/^[1-9]$/.test(k) && CLASS_KINDS.includes(state.view.kind)) pick(parseInt(k, 10) - 1);
    else if ((k === "p" || k === "P") && state.view.kind === "segment" && (state.view.proposals || []).length) {
      const x = state.view.proposals[state.proposal % state.view.proposals.length];
      state.proposal += 1;
      remember();
      state.mark = { onset: x.onset, apex: x.apex, offset: x.offset, label: x.label };
      go(x.apex !== null ? x.apex : x.onset);
      status.textContent = "proposal taken: Enter keeps it, or correct it first";
    }
    else if (k === "Enter") { e.preventDefault(); enter(); }
    else if (k === "n" || k === "N") nextTask();
  });

  api("GET", "/api/tasks/" + taskId + "/quality").then((q) => { quality = q; if (state.view) draw(); })
    .catch(() => {});
  api("GET", "/api/tasks/" + taskId).then((view) => {
    state.view = view;
    state.k = view.first;
    const answersWithAus = AU_KINDS.includes(view.kind);
    auForm.hidden = !answersWithAus;
    classes.hidden = view.kind === "keyframes" || answersWithAus;
    for (const c of view.codings || []) {  // a reconcile task: every coder's AUs (the only view that has them)
      shown.append(el("p", { class: "coding" }, `coder ${c.coder}${c.yours ? " (you)" : ""}: ${c.aus.join("+") || "none"}`));
      if (c.yours) auBox.value = c.aus.join("+");
    }
    for (const x of view.shown || []) {  // results of earlier steps this step may see (never single answers)
      const value = Array.isArray(x.value) ? (x.value.join("+") || "none") : JSON.stringify(x.value);
      shown.append(el("p", { class: "shown" }, `${x.step}: ${value}`));
    }
    (view.proposals || []).forEach((x, i) => {  // candidates (e.g. a spotting model's): stage 1 only
      shown.append(el("p", { class: "proposal", "data-index": String(i) },
        `proposed: ${x.onset}-${x.offset}` + (x.apex !== null ? ` (apex ${x.apex})` : "") +
        (x.label ? ` ${x.label}` : "") + (x.score !== null ? ` score ${x.score}` : "")));
    });
    if (answersWithAus) auBox.focus();
    renderClasses();
    draw();
    for (let k = view.first; k <= Math.min(view.last, view.first + 31); k++) image(k);  // prefetch a strip
  }).catch((err) => { status.textContent = err.message; });
})();
