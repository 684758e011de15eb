// The draw-a-digit page's script (served as /static/page.js: the Content-Security-Policy allows no inline script).
"use strict";
(function () {
  const INTERVAL_MS = 120;          // at most one prediction request per 120 ms while drawing
  const LINE_WIDTH = 24;            // in pixels of the 280x280 drawing: a stroke about as thick as MNIST's once fitted into 20x20
  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d");
  const preview = document.getElementById("input28");
  const pctx = preview.getContext("2d");
  const statusEl = document.getElementById("status");
  const modelsEl = document.getElementById("models");

  // ---------------------------------------------------------------- the model panels
  const panels = {};                // model name -> {pred, cols: [{col, bar, pct}]}

  function buildPanels(models) {
    modelsEl.textContent = "";
    for (const m of models) {
      const section = document.createElement("section");
      section.className = "panel model";
      section.dataset.model = m.name;
      const h = document.createElement("h2");
      const title = document.createElement("span");
      title.textContent = m.label;
      const pred = document.createElement("span");
      pred.className = "pred";
      h.append(title, pred);
      const bars = document.createElement("div");
      bars.className = "bars";
      const cols = [];
      m.class_names.forEach((name, k) => {
        const col = document.createElement("div");
        col.className = "col";
        const pct = document.createElement("span");
        pct.className = "pct";
        const track = document.createElement("div");
        track.className = "track";
        const bar = document.createElement("div");
        bar.className = "bar";
        bar.dataset.model = m.name;
        bar.dataset.digit = name;
        bar.title = m.label + ": " + name;
        track.append(bar);
        const digit = document.createElement("span");
        digit.className = "digit";
        digit.textContent = name;
        col.append(pct, track, digit);
        bars.append(col);
        cols.push({ col, bar, pct, name });
      });
      section.append(h, bars);
      modelsEl.append(section);
      panels[m.name] = { pred, cols };
    }
  }

  function showProbabilities(models) {
    for (const m of models) {
      const panel = panels[m.name];
      if (!panel) continue;
      let best = 0;
      m.probabilities.forEach((p, k) => { if (p > m.probabilities[best]) best = k; });
      panel.cols.forEach((c, k) => {
        const p = m.probabilities[k];
        c.bar.dataset.p = String(p);
        c.bar.style.height = (100 * p).toFixed(2) + "%";
        c.pct.textContent = wholePercent(p);
        c.col.classList.toggle("top", k === best);
      });
      panel.pred.innerHTML = "";
      panel.pred.append("predicts ");
      const b = document.createElement("b");
      b.textContent = m.prediction;
      panel.pred.append(b, " (" + percent(m.probabilities[best]) + ")");
    }
  }

  function clearProbabilities() {
    for (const panel of Object.values(panels)) {
      panel.pred.textContent = "";
      for (const c of panel.cols) {
        delete c.bar.dataset.p;
        c.bar.style.height = "0";
        c.pct.textContent = "";
        c.col.classList.remove("top");
      }
    }
  }

  function percent(p) {             // the predicted class's probability, in the heading
    const v = 100 * p;
    return (v >= 99.95 ? ">99.9" : v.toFixed(1)) + "%";
  }

  function wholePercent(p) {        // above each bar: whole per cent, so that ten fit side by side
    const v = 100 * p;
    return v > 0 && v < 0.5 ? "<1" : v > 99.5 && v < 100 ? ">99" : v.toFixed(0);
  }

  // ---------------------------------------------------------------- the 28x28 preview
  function clearPreview() {
    pctx.fillStyle = "#000";
    pctx.fillRect(0, 0, 28, 28);
  }

  function showPreview(rows) {
    const img = pctx.createImageData(28, 28);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = rows[y][x], i = 4 * (28 * y + x);
        img.data[i] = img.data[i + 1] = img.data[i + 2] = v;
        img.data[i + 3] = 255;
      }
    }
    pctx.putImageData(img, 0, 0);
  }

  // ---------------------------------------------------------------- status line
  function setStatus(state, text) {
    statusEl.dataset.state = state;
    statusEl.textContent = text;
  }

  // ---------------------------------------------------------------- drawing
  let drawing = null;               // {id, x, y} of the pointer drawing now
  let hasInk = false;

  function resetPad() {
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.strokeStyle = ctx.fillStyle = "#111";
    ctx.lineWidth = LINE_WIDTH;
    ctx.lineCap = ctx.lineJoin = "round";
  }

  function position(e) {
    const r = pad.getBoundingClientRect();
    const border = pad.clientLeft;  // the CSS border is outside the drawing
    const w = r.width - 2 * border, h = r.height - 2 * border;
    return { x: (e.clientX - r.left - border) * pad.width / w, y: (e.clientY - r.top - border) * pad.height / h };
  }

  function dot(p) {
    ctx.beginPath();
    ctx.arc(p.x, p.y, LINE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
  }

  function lineTo(p) {
    ctx.beginPath();
    ctx.moveTo(drawing.x, drawing.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    drawing.x = p.x;
    drawing.y = p.y;
  }

  pad.addEventListener("pointerdown", (e) => {
    if (drawing || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    try { pad.setPointerCapture(e.pointerId); } catch (err) { /* synthetic events have no capturable pointer */ }
    const p = position(e);
    drawing = { id: e.pointerId, x: p.x, y: p.y };
    dot(p);
    hasInk = true;
    schedule(false);
  });

  pad.addEventListener("pointermove", (e) => {
    if (!drawing || e.pointerId !== drawing.id) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const c of events.length ? events : [e]) lineTo(position(c));
    schedule(false);
  });

  function endStroke(e) {
    if (!drawing || e.pointerId !== drawing.id) return;
    drawing = null;
    schedule(true);                 // the finished stroke is sent at once
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  // ---------------------------------------------------------------- predictions, throttled
  let inFlight = false, pending = false, timer = null, lastSent = -Infinity, generation = 0;

  function setBusy() {
    statusEl.dataset.busy = String(inFlight || pending || timer !== null);
  }

  function schedule(now) {
    if (!hasInk) return;
    if (inFlight) { pending = true; setBusy(); return; }
    if (now && timer !== null) { clearTimeout(timer); timer = null; }
    if (timer === null) {
      const wait = now ? 0 : Math.max(0, lastSent + INTERVAL_MS - performance.now());
      timer = setTimeout(send, wait);
    }
    setBusy();
  }

  // with `--token`, the page is opened as /#token=TOKEN: the fragment never leaves the browser
  const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token");
  const AUTH = TOKEN ? { Authorization: "Bearer " + TOKEN } : {};
  let retryAt = 0;                  // after a 503: no request before this time (performance.now())

  async function send() {
    timer = null;
    if (inFlight) { pending = true; setBusy(); return; }
    const wait = retryAt - performance.now();
    if (wait > 0) { timer = setTimeout(send, wait); setBusy(); return; }
    inFlight = true;
    pending = false;
    lastSent = performance.now();
    setBusy();
    const mine = generation;
    try {
      const response = await fetch("api/predict", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...AUTH },
        body: JSON.stringify({ image: pad.toDataURL("image/png") }),
      });
      let answer = null;
      try { answer = await response.json(); } catch (err) { /* a body that is not JSON (a proxy's error page) */ }
      if (mine !== generation) return;           // cleared meanwhile
      if (response.ok && answer) show(answer);
      else refused(response, answer);
    } catch (err) {
      if (mine === generation) setStatus("error", "No prediction: " + err.message);
    } finally {
      inFlight = false;
      if (pending) schedule(false);
      setBusy();
    }
  }

  // a refusal: {"status": code word, "reason": sentence}, with the HTTP status
  function refused(response, answer) {
    const status = (answer && answer.status) || "error";
    const reason = (answer && answer.reason) || "HTTP " + response.status;
    if (response.status === 503) {             // overloaded: try again after Retry-After, keep what is shown
      const seconds = Number(response.headers.get("Retry-After")) || 1;
      retryAt = performance.now() + 1000 * seconds;
      pending = true;
      setStatus("overloaded", "The server is busy; trying again in " + seconds + " s.");
      return;
    }
    clearProbabilities();
    clearPreview();
    setStatus(status, "No prediction (HTTP " + response.status + "): " + reason);
  }

  function show(answer) {
    if (answer.status !== "ok") {              // 200 without a prediction: a blank canvas
      clearProbabilities();
      clearPreview();
      if (answer.status === "no_ink") setStatus("no_ink", "No ink found yet: draw a digit.");
      else setStatus(answer.status, answer.reason || answer.status);
      return;
    }
    showPreview(answer.input28);
    showProbabilities(answer.models);
    setStatus("ok", "Updated as you draw. Press Clear to start again.");
  }

  function clearAll() {
    generation++;                   // answers still on their way are dropped
    if (timer !== null) { clearTimeout(timer); timer = null; }
    pending = false;
    drawing = null;
    hasInk = false;
    resetPad();
    clearPreview();
    clearProbabilities();
    setStatus("empty", "Draw a digit in the white box.");
    setBusy();
  }

  document.getElementById("clear").addEventListener("click", clearAll);

  // ---------------------------------------------------------------- start
  resetPad();
  clearPreview();
  fetch("api/models", { headers: AUTH })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then((answer) => { buildPanels(answer.models); document.body.dataset.ready = "true"; })
    .catch((err) => setStatus("error", "Cannot list the models: " + err.message));
})();
