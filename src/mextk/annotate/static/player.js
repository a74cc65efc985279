// mextk annotate: the frame-exact player, driven by buttons or by keys.
//
// Frames come from the server by number (/api/tasks/T/frame/K: the decoded frame K, lossless), never from
// <video> seeking.  Every action is one entry of ACTIONS below: it makes the action's button, its line in the
// on-screen key legend and its key, so the three never disagree.  An answer is sent only after an explicit
// confirmation (the Submit button or Enter, then Y or the confirm button): a task cannot be closed by one key.
"use strict";

(function () {
  const csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";
  const SPEEDS = [0.1, 0.25, 0.5, 1];
  const MAGNIFY = [0, 4, 8, 16];  // the magnified view's alpha, cycled by M (0: off)
  const SIZES = ["small", "large", "fit"];  // how large the frames are drawn (nearest-neighbour: pixels stay exact)
  const ZOOMS = [1, 2, 4];
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
                  choice: null, proposal: 0, size: 0, zoom: 0, focus: [0.5, 0.5], confirming: null };
  const cache = new Map();

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => e.setAttribute(k, v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ------------------------------------------------------------------ the page
  const info = el("p", { id: "frame-info", "aria-live": "polite" });
  const views = el("div", { class: "views" });
  const onsetCanvas = el("canvas", { id: "onset-view", width: 256, height: 256 });
  const currentCanvas = el("canvas", { id: "current-view", width: 256, height: 256,
                                       title: "click: the point to zoom into (Z)" });
  const onsetCaption = el("figcaption", { id: "onset-caption" }, "onset frame");
  const currentCaption = el("figcaption", { id: "current-caption" }, "current frame");
  for (const [canvas, caption] of [[onsetCanvas, onsetCaption], [currentCanvas, currentCaption]]) {
    const frame = el("div", { class: "frame" });
    frame.append(canvas);
    const figure = el("figure", {});
    figure.append(frame, caption);
    views.append(figure);
  }
  const timeline = el("canvas", { id: "timeline", width: 660, height: 40,
                                  title: "click to go to a frame; red: no face, orange: head turned; " +
                                         "green: segments added (dark: apex); blue: the segment being marked" });
  const toolbar = el("div", { class: "toolbar", id: "controls" });
  const classes = el("ol", { id: "classes" });
  const list = el("ul", { id: "segments" });
  const confirmBox = el("div", { id: "confirm", role: "alertdialog", hidden: "" });
  const status = el("p", { id: "status", role: "status" });
  const shown = el("div", { id: "shown" });
  const auBox = el("input", { id: "aus", type: "text", placeholder: "action units, e.g. 4+7+R12", size: "36",
                              autocomplete: "off", spellcheck: "false" });
  const auForm = el("p", { id: "au-form" });
  auForm.append(el("label", { for: "aus" }, "AUs (U) "), auBox);
  const legend = el("details", { id: "keys", open: "" });
  root.append(info, views, timeline, toolbar, shown, classes, auForm, list, confirmBox, status, legend);
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

  // ------------------------------------------------------------------ drawing
  let drawn = 0;  // the latest draw wins: frames load out of order when stepping fast, and a late frame
                  // must never replace the one asked for last
  async function draw() {
    const v = state.view;
    if (!v) return;
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
    currentCaption.textContent = state.diff ? `difference from the onset frame ${onsetK} (x4), frame ${state.k}` :
      state.magnify ? `motion magnified ${MAGNIFY[state.magnify]}x against the onset frame ${onsetK}, frame ${state.k}` :
      `current frame ${state.k}`;
    onsetCaption.textContent = `onset frame ${onsetK}` + (state.mark.onset === null ? " (the first frame until I)" : "");
    layoutFrames();
    drawTimeline();
    renderControls();
    const m = state.mark;
    info.textContent = `frame ${state.k} (${v.first}-${v.last}) · ${SPEEDS[state.speed]}x` +
      (state.playing ? " · playing" : "") + (state.loop ? " · loop" : "") + (state.diff ? " · difference" : "") +
      (state.magnify ? ` · magnified ${MAGNIFY[state.magnify]}x` : "") +
      (ZOOMS[state.zoom] > 1 ? ` · zoom ${ZOOMS[state.zoom]}x` : "") +
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

  // The frames keep their own pixels (the canvases are the decoded frames, read back by the views above); only
  // their display size changes, with nearest-neighbour scaling, and a zoom enlarges them around a chosen point.
  function layoutFrames() {
    const size = SIZES[state.size];
    let width = 320;
    if (size === "large") width = 640;
    else if (size === "fit") {
      const aspect = currentCanvas.height / Math.max(1, currentCanvas.width);
      const byWidth = (root.clientWidth - 48) / 2, byHeight = (window.innerHeight - 260) / Math.max(0.1, aspect);
      width = Math.max(160, Math.floor(Math.min(byWidth, byHeight)));
    }
    const zoom = ZOOMS[state.zoom];
    for (const canvas of [onsetCanvas, currentCanvas]) {
      canvas.style.width = width + "px";
      canvas.style.transformOrigin = `${100 * state.focus[0]}% ${100 * state.focus[1]}%`;
      canvas.style.transform = zoom > 1 ? `scale(${zoom})` : "";
      canvas.parentElement.style.width = width + "px";
    }
    timeline.width = Math.max(660, 2 * width + 24);
  }

  function tickStep(n, width) {
    for (const s of [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000]) {
      if (width * s / n >= 40) return s;
    }
    return 10000;
  }

  function drawTimeline() {
    const v = state.view, c = timeline.getContext("2d"), w = timeline.width, h = timeline.height;
    const n = Math.max(1, v.last - v.first + 1);
    const x = (k) => ((k - v.first) / n) * w;
    const step = w / n;
    c.clearRect(0, 0, w, h);
    c.fillStyle = "#e4e4e4"; c.fillRect(0, 0, w, 26);
    for (const q of quality) {  // the face's state: a strip at the top
      if (!q.face_visible) { c.fillStyle = "#c33"; c.fillRect(x(q.frame), 0, Math.max(1, step), 5); }
      else if (q.turned) { c.fillStyle = "#e90"; c.fillRect(x(q.frame), 0, Math.max(1, step), 5); }
    }
    for (const s of state.segments) {  // segments already added, with their apexes
      c.fillStyle = "rgba(40, 150, 60, 0.45)"; c.fillRect(x(s.onset), 7, x(s.offset + 1) - x(s.onset), 12);
      if (s.apex !== null) { c.fillStyle = "#145a20"; c.fillRect(x(s.apex) + step / 2 - 1, 7, 3, 12); }
    }
    const m = state.mark;
    if (m.onset !== null && m.offset !== null) {
      c.fillStyle = "rgba(40, 90, 210, 0.3)"; c.fillRect(x(m.onset), 7, x(m.offset + 1) - x(m.onset), 12);
    }
    // ticks and frame numbers under the bar
    const every = tickStep(n, w);
    c.fillStyle = "#555"; c.font = "10px system-ui, sans-serif"; c.textBaseline = "top";
    for (let k = Math.ceil(v.first / every) * every; k <= v.last; k += every) {
      c.fillRect(x(k) + step / 2, 26, 1, 4);
      c.fillText(String(k), Math.min(w - 24, x(k) + step / 2 + 2), 29);
    }
    // the cursor above the bar (a triangle and a thin line), the marks drawn last: a mark never hides under it
    const cx = x(state.k) + step / 2;
    c.fillStyle = "#000"; c.fillRect(cx - 0.5, 0, 1, 26);
    c.beginPath(); c.moveTo(cx - 5, 0); c.lineTo(cx + 5, 0); c.lineTo(cx, 6); c.fill();
    for (const [k, letter, colour] of [[m.onset, "I", "#1f4fd0"], [m.apex, "A", "#d06a00"], [m.offset, "O", "#1f4fd0"]]) {
      if (k === null) continue;
      const mx = x(k) + step / 2;
      c.fillStyle = colour; c.fillRect(mx - 1.5, 6, 3, 20);
      c.font = "bold 9px system-ui, sans-serif"; c.fillText(letter, Math.min(w - 8, mx + 3), 15);
    }
  }

  timeline.addEventListener("click", (e) => {
    const v = state.view;
    if (!v) return;
    const rect = timeline.getBoundingClientRect();
    const n = v.last - v.first + 1;
    go(v.first + Math.floor(((e.clientX - rect.left) / rect.width) * n));
  });
  currentCanvas.addEventListener("click", (e) => {  // where to zoom into
    const rect = currentCanvas.getBoundingClientRect();
    state.focus = [(e.clientX - rect.left) / rect.width, (e.clientY - rect.top) / rect.height]
      .map((f) => Math.min(1, Math.max(0, f)));
    if (ZOOMS[state.zoom] > 1) layoutFrames();
  });
  window.addEventListener("resize", () => { if (state.view) { layoutFrames(); drawTimeline(); } });

  // ------------------------------------------------------------------ moving about
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

  function goTo() {
    const to = prompt("go to frame", String(state.k));
    if (to !== null && /^\d+$/.test(to.trim())) go(parseInt(to, 10));
  }

  // ------------------------------------------------------------------ marking and choosing
  function remember() { state.history.push(JSON.stringify({ mark: state.mark, segments: state.segments,
                                                             choice: state.choice })); }
  function undo() {
    const last = state.history.pop();
    if (!last) { status.textContent = "nothing to undo"; return; }
    const s = JSON.parse(last);
    state.mark = s.mark; state.segments = s.segments; state.choice = s.choice;
    status.textContent = "undone";
    renderSegments(); renderClasses(); draw();
  }

  function marking() { return Object.values(state.mark).some((x) => x !== null); }

  function setMark(which) {
    remember();
    state.mark[which] = state.k;
    const n = state.segments.length + 1;
    status.textContent = state.view.kind === "segment" ? `marking segment ${n}: ${which} at frame ${state.k}` :
      `${which} at frame ${state.k}`;
    draw();
  }

  // A stage-3 (choose) task shows the two candidate labels first, in random order and without their sources,
  // then, where the protocol allows, every other class: the labeller may pick either candidate or another class.
  function options() {
    const v = state.view;
    if (v.kind === "choose") {
      const others = v.allow_other ? v.classes.filter((c) => !v.choices.includes(c)) : [];
      return v.choices.concat(others);
    }
    return v.classes;
  }
  function selected() { return state.view.kind === "segment" ? state.mark.label : state.choice; }

  function renderClasses() {
    const v = state.view, opts = options(), sel = selected();
    const items = opts.map((c, i) => {
      const li = el("li", { "data-key": String(i + 1) });
      if (v.kind === "choose" && i < v.choices.length) li.classList.add("candidate");
      if (v.kind === "choose" && i === v.choices.length && opts.length > v.choices.length) li.classList.add("first-other");
      const b = el("button", { type: "button", "aria-pressed": String(c === sel), class: c === sel ? "chip selected" : "chip" },
                   `${i + 1} ${c}`);
      b.addEventListener("click", () => pick(i));
      li.append(b);
      return li;
    });
    classes.replaceChildren(...items);
    if (v.kind === "choose" && v.allow_other) {
      classes.setAttribute("aria-label", "the two labels given (1, 2), or a different class (3 and on)");
    }
  }
  function renderSegments() {
    list.replaceChildren(...state.segments.map((s, i) => {
      const li = el("li", {});
      li.append(el("span", { class: "segment-text" },
                   `${s.label}: ${s.onset}-${s.offset}` + (s.apex !== null ? ` (apex ${s.apex})` : "")));
      const remove = el("button", { type: "button", class: "remove", title: "remove this segment" }, "remove");
      remove.addEventListener("click", () => { remember(); state.segments.splice(i, 1); renderSegments(); draw(); });
      li.append(" ", remove);
      return li;
    }));
  }

  function pick(i) {
    const opts = options();
    if (i >= opts.length) return;
    remember();
    if (state.view.kind === "segment") state.mark.label = opts[i]; else state.choice = opts[i];
    status.textContent = `class: ${opts[i]}`;
    renderClasses();
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

  function addSegment() {
    const v = state.view, m = state.mark;
    const problem = segmentReady();
    if (problem) { status.textContent = problem; return; }
    remember();
    state.segments.push({ onset: m.onset, apex: v.no_apex_classes.includes(m.label) ? null : m.apex,
                          offset: m.offset, label: m.label });
    state.mark = { onset: null, apex: null, offset: null, label: null };
    renderSegments(); renderClasses(); draw();
    status.textContent = `segment ${state.segments.length} added; mark another, or submit the clip (Enter, then Y)`;
  }

  function takeProposal() {
    const x = state.view.proposals[state.proposal % state.view.proposals.length];
    state.proposal += 1;
    remember();
    state.mark = { onset: x.onset, apex: x.apex, offset: x.offset, label: x.label };
    go(x.apex !== null ? x.apex : x.onset);
    renderClasses();
    status.textContent = "proposal taken: Enter keeps it, or correct it first";
  }

  // ------------------------------------------------------------------ answering
  // What would be sent, in words, or a reason it cannot be sent yet.
  function answer() {
    const v = state.view, m = state.mark;
    if (v.kind === "segment") {
      if (marking()) return { problem: "finish the segment being marked (Enter adds it) or undo it first" };
      const n = state.segments.length;
      return { url: "segments", body: { segments: state.segments },
               text: n ? `submit ${n} segment${n > 1 ? "s" : ""}: ` +
                 state.segments.map((s) => `${s.label} ${s.onset}-${s.offset}`).join(", ") :
                 "submit NO micro-expression in this clip (0 segments)", empty: n === 0 };
    }
    if (v.kind === "keyframes") {
      if (m.onset === null || m.apex === null || m.offset === null) return { problem: "mark onset (I), apex (A) and offset (O)" };
      if (!(m.onset <= m.apex && m.apex <= m.offset)) return { problem: "need onset <= apex <= offset" };
      return { url: "keyframes", body: { onset: m.onset, apex: m.apex, offset: m.offset },
               text: `submit onset ${m.onset}, apex ${m.apex}, offset ${m.offset}` };
    }
    if (AU_KINDS.includes(v.kind)) {
      const codes = auBox.value.trim();
      return { url: "aus", body: { aus: codes }, text: codes ? `submit the action units ${codes}` :
               "submit NO action units for this segment", empty: !codes };
    }
    if (state.choice === null) return { problem: "choose a class (its number or its button)" };
    return { url: "label", body: { label: state.choice }, text: `submit the class ${state.choice}` };
  }

  function askToSubmit() {
    const a = answer();
    if (a.problem) { status.textContent = a.problem; return; }
    auBox.blur();
    state.confirming = a;
    const yes = el("button", { type: "button", id: "confirm-yes", class: a.empty ? "danger" : "primary" },
                   "Yes, submit (Y)");
    const no = el("button", { type: "button", id: "confirm-no" }, "Cancel (Esc)");
    yes.addEventListener("click", submit);
    no.addEventListener("click", cancel);
    confirmBox.replaceChildren(el("p", {}, a.text[0].toUpperCase() + a.text.slice(1) + "? It cannot be changed afterwards."),
                               yes, no);
    confirmBox.hidden = false;
    status.textContent = "confirm: Y submits, Esc goes back";
  }
  function cancel() {
    state.confirming = null; confirmBox.hidden = true; status.textContent = "not submitted";
  }
  async function submit() {
    const a = state.confirming;
    if (!a) return;
    state.confirming = null; confirmBox.hidden = true;
    try {
      await api("POST", "/api/tasks/" + taskId + "/" + a.url, a.body);
      status.textContent = "submitted";
      nextTask();
    } catch (err) {
      status.textContent = "not saved: " + err.message;
    }
  }

  function enter() {
    if (state.view.kind === "segment" && marking()) addSegment(); else askToSubmit();
  }

  // ------------------------------------------------------------------ actions: buttons, keys and the legend
  const is = (...kinds) => () => kinds.includes(state.view.kind);
  const always = () => true;
  const ACTIONS = [
    { group: "move", id: "back10", label: "−10", keys: "Shift+←", help: "ten frames back", run: () => go(state.k - 10), when: always },
    { group: "move", id: "back", label: "◀ −1", keys: "←", help: "one frame back", run: () => go(state.k - 1), when: always },
    { group: "move", id: "play", label: () => state.playing ? "❚❚ pause" : "▶ play", keys: "Space", help: "play or pause",
      run: () => play(!state.playing), when: always },
    { group: "move", id: "forward", label: "+1 ▶", keys: "→", help: "one frame forward", run: () => go(state.k + 1), when: always },
    { group: "move", id: "forward10", label: "+10", keys: "Shift+→", help: "ten frames forward", run: () => go(state.k + 10), when: always },
    { group: "move", id: "goto", label: "go to…", keys: "G", help: "go to a frame number", run: goTo, when: always },
    { group: "move", id: "slower", label: "slower", keys: "[", help: "play slower (0.1x to 1x)",
      run: () => { state.speed = Math.max(0, state.speed - 1); draw(); }, when: always },
    { group: "move", id: "faster", label: "faster", keys: "]", help: "play faster",
      run: () => { state.speed = Math.min(SPEEDS.length - 1, state.speed + 1); draw(); }, when: always },
    { group: "move", id: "loop", label: "loop", keys: "L", help: "loop onset to offset", pressed: () => state.loop,
      run: () => { state.loop = !state.loop; draw(); }, when: always },
    { group: "view", id: "diff", label: "difference", keys: "D", help: "difference from the onset frame",
      pressed: () => state.diff, run: () => { state.diff = !state.diff; state.magnify = 0; draw(); }, when: always },
    { group: "view", id: "magnify", label: () => state.magnify ? `magnify ${MAGNIFY[state.magnify]}x` : "magnify",
      keys: "M", help: "motion magnified against the onset frame (4x, 8x, 16x, off)", pressed: () => state.magnify > 0,
      run: () => { state.magnify = (state.magnify + 1) % MAGNIFY.length; state.diff = false; draw(); }, when: always },
    { group: "view", id: "size", label: () => `size: ${SIZES[state.size]}`, keys: "F",
      help: "frame size: small, large, fit the window", run: () => { state.size = (state.size + 1) % SIZES.length; draw(); },
      when: always },
    { group: "view", id: "zoom", label: () => `zoom ${ZOOMS[state.zoom]}x`, keys: "Z",
      help: "zoom 1x, 2x, 4x into the point last clicked on the frame", pressed: () => state.zoom > 0,
      run: () => { state.zoom = (state.zoom + 1) % ZOOMS.length; draw(); }, when: always },
    { group: "mark", id: "onset", label: "onset", keys: "I", help: "mark the onset at this frame",
      run: () => setMark("onset"), when: is(...MARK_KINDS) },
    { group: "mark", id: "apex", label: "apex", keys: "A", help: "mark the apex at this frame",
      run: () => setMark("apex"), when: is(...MARK_KINDS) },
    { group: "mark", id: "offset", label: "offset", keys: "O", help: "mark the offset at this frame",
      run: () => setMark("offset"), when: is(...MARK_KINDS) },
    { group: "mark", id: "class", label: null, keys: "1-9", help: "choose a class (or click it)", run: null,
      when: is(...CLASS_KINDS) },
    { group: "mark", id: "add", label: "add segment", keys: "Enter", help: "add the marked segment",
      run: addSegment, when: () => state.view.kind === "segment" },
    { group: "mark", id: "proposal", label: "take proposal", keys: "P", help: "take the next proposed segment",
      run: takeProposal, when: () => state.view.kind === "segment" && (state.view.proposals || []).length > 0 },
    { group: "mark", id: "aus-focus", label: null, keys: "U", help: "type the action units (Enter: submit; Esc: back to the keys)",
      run: () => auBox.focus(), when: is(...AU_KINDS) },
    { group: "mark", id: "undo", label: "undo", keys: "Ctrl+Z", help: "undo the last mark, class or segment", run: undo,
      when: always },
    { group: "answer", id: "submit", label: () => state.view.kind === "segment" && !state.segments.length ?
        "submit: no micro-expression…" : "submit…", keys: () => state.view.kind === "segment" ? "Enter (when not marking)" : "Enter",
      help: "submit the answer (asks to confirm: Y or the button)", run: askToSubmit, when: always, primary: true },
    { group: "answer", id: "next-task", label: "next task", keys: "N", help: "go to your next task", run: () => nextTask(),
      when: always },
  ];

  function text(x) { return typeof x === "function" ? x() : x; }

  function renderControls() {
    for (const a of ACTIONS) {
      const b = document.getElementById("btn-" + a.id);
      if (!b) continue;
      b.textContent = text(a.label);
      if (a.pressed) b.setAttribute("aria-pressed", String(a.pressed()));
    }
  }

  function buildControls() {
    const groups = { move: "Frames", view: "View", mark: "Mark", answer: "Answer" };
    for (const [group, title] of Object.entries(groups)) {
      const box = el("div", { class: "group", role: "group", "aria-label": title });
      for (const a of ACTIONS.filter((x) => x.group === group && x.when() && x.label !== null)) {
        const b = el("button", { type: "button", id: "btn-" + a.id, title: `${a.help} (${text(a.keys)})`,
                                 class: a.primary ? "primary" : "" }, text(a.label));
        b.addEventListener("click", () => { a.run(); b.blur(); });
        box.append(b);
      }
      if (box.children.length) toolbar.append(box);
    }
    const rows = ACTIONS.filter((a) => a.when()).map((a) => {
      const tr = el("tr");
      tr.append(el("td", {}, text(a.keys)), el("td", {}, a.help));
      return tr;
    });
    [["Esc", "leave the AU box; cancel a confirmation"], ["Y", "confirm a submission"]].forEach(([k, h]) => {
      const tr = el("tr"); tr.append(el("td", {}, k), el("td", {}, h)); rows.push(tr);
    });
    const table = el("table", { class: "keys" });
    table.append(...rows);
    legend.replaceChildren(el("summary", {}, "Keys"), table);
  }

  auBox.addEventListener("keydown", (e) => {
    // the box takes typing; Enter asks to submit and Esc hands the keys back to the player, so the box never
    // traps them
    if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); askToSubmit(); }
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); auBox.blur(); }
    else e.stopPropagation();
  });

  document.addEventListener("keydown", (e) => {
    if (!state.view) return;
    const k = e.key;
    if (state.confirming) {  // a confirmation is open: only Y or Esc (never Enter: one key cannot submit)
      if (k === "y" || k === "Y") { e.preventDefault(); submit(); }
      else if (k === "Escape" || k === "n" || k === "N") { e.preventDefault(); cancel(); }
      return;
    }
    const target = e.target;
    if (target && target.tagName === "BUTTON" && (k === "Enter" || k === " ")) return;  // a focused button's own key
    const v = state.view;
    if (AU_KINDS.includes(v.kind) && (k === "u" || k === "U")) { e.preventDefault(); auBox.focus(); return; }
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
    else if (k === "f" || k === "F") { state.size = (state.size + 1) % SIZES.length; draw(); }
    else if (k === "z" || k === "Z") { state.zoom = (state.zoom + 1) % ZOOMS.length; draw(); }
    else if (k === "g" || k === "G") goTo();
    else if (MARK_KINDS.includes(v.kind) && (k === "i" || k === "I")) setMark("onset");
    else if (MARK_KINDS.includes(v.kind) && (k === "a" || k === "A")) setMark("apex");
    else if (MARK_KINDS.includes(v.kind) && (k === "o" || k === "O")) setMark("offset");
    else if (/^[1-9]$/.test(k) && CLASS_KINDS.includes(v.kind)) pick(parseInt(k, 10) - 1);
    else if ((k === "p" || k === "P") && v.kind === "segment" && (v.proposals || []).length) takeProposal();
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
    if (view.kind === "choose" && view.allow_other) {
      shown.append(el("p", { class: "hint" }, "1 and 2 are the two labels given (in random order); " +
                                               "3 and on: a different class."));
    }
    buildControls();
    renderClasses();
    draw();
    for (let k = view.first; k <= Math.min(view.last, view.first + 31); k++) image(k);  // prefetch a strip
  }).catch((err) => { status.textContent = err.message; });
})();
