// The product page's interactive plot: drag across the plot to zoom into a time window,
// double-click to go back to the whole curve. It draws the envelope (lowest and highest flux
// per pixel column) of the good points that plot.json returns for the window shown, asked
// again at every zoom, so only a few kB travel whatever the light curve's length. Without
// JavaScript the page shows the preview PNG instead.
(function () {
  "use strict";
  const figure = document.getElementById("figure");
  if (!figure || !window.fetch || !document.createElement("canvas").getContext) return;
  const source = figure.dataset.plot;
  const scale = figure.dataset.scale || "";
  const canvas = document.createElement("canvas");
  canvas.id = "plot";
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", "interactive light curve: drag to zoom, double-click to reset");
  const readout = document.createElement("div");
  readout.className = "hint";
  readout.id = "plot-readout";
  readout.textContent = "Drag across the plot to zoom in time; double-click to see it all.";
  const margin = { left: 80, right: 12, top: 12, bottom: 40 };
  let data = null;
  let drag = null;

  function load(from, to) {
    const params = new URLSearchParams();
    if (from !== undefined) params.set("from", from);
    if (to !== undefined) params.set("to", to);
    return fetch(source + (params.toString() ? "?" + params : ""), { credentials: "same-origin" })
      .then((r) => { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then((json) => { data = json; draw(); });
  }

  function extent(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return [lo, hi];
  }

  function draw() {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = width * ratio; canvas.height = height * ratio;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const g = data.good, f = data.flagged;
    const times = g.time.concat(f.time);
    if (!times.length) { ctx.fillText("no valid points in this window", width / 2 - 80, height / 2); return; }
    const [t0, t1] = extent(times);
    const [y0, y1] = g.time.length ? [Math.min(...g.low), Math.max(...g.high)] : [Math.min(...f.low), Math.max(...f.high)];
    const pad = (y1 - y0) * 0.05 || 1;
    const plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
    const x = (t) => margin.left + (t1 > t0 ? (t - t0) / (t1 - t0) : 0.5) * plotW;
    const y = (v) => margin.top + (1 - (v - (y0 - pad)) / ((y1 + pad) - (y0 - pad))) * plotH;
    canvas.view = { t0, t1, x, plotW };
    ctx.strokeStyle = "#999"; ctx.strokeRect(margin.left, margin.top, plotW, plotH);
    ctx.fillStyle = "#222"; ctx.font = "12px system-ui, sans-serif";
    for (let i = 0; i <= 4; i++) {
      const t = t0 + (t1 - t0) * i / 4, v = (y0 - pad) + ((y1 + pad) - (y0 - pad)) * i / 4;
      ctx.fillText(t.toFixed(3), x(t) - 25, height - margin.bottom + 16);
      ctx.fillText(v.toPrecision(6), 4, y(v) + 4);
    }
    ctx.fillText("time (MJD, " + scale + ")", margin.left + plotW / 2 - 50, height - 6);
    ctx.save();
    // Nothing outside the frame: flagged points may lie far from the good ones' range.
    ctx.beginPath(); ctx.rect(margin.left, margin.top, plotW, plotH); ctx.clip();
    ctx.fillStyle = "#bbb";
    for (let i = 0; i < f.time.length; i++) ctx.fillRect(x(f.time[i]) - 1, y(f.high[i]) - 1, 2, 2);
    // Each column's good points from lowest to highest, at least 2 px tall and wide (a
    // column holding one point, as in every close zoom, is a visible dot), over the grey.
    ctx.fillStyle = "#1f5fa0";
    for (let i = 0; i < g.time.length; i++) {
      const top = y(g.high[i]), bottom = y(g.low[i]);
      ctx.fillRect(x(g.time[i]) - 1, Math.min(top, bottom - 2), 2, Math.max(bottom - top, 2));
    }
    ctx.restore();
    canvas.dataset.points = String(g.n);
    readout.textContent = g.n.toLocaleString() + " good points from MJD " + t0.toFixed(4) + " to " + t1.toFixed(4) +
      (f.n ? " (" + f.n.toLocaleString() + " flagged, grey)" : "") + ". Drag to zoom; double-click to reset.";
  }

  function timeAt(event) {
    const v = canvas.view, rect = canvas.getBoundingClientRect();
    const px = Math.min(Math.max(event.clientX - rect.left - margin.left, 0), v.plotW);
    return v.t0 + (v.t1 - v.t0) * px / v.plotW;
  }

  canvas.addEventListener("pointerdown", (e) => { if (canvas.view) drag = timeAt(e); });
  canvas.addEventListener("pointerup", (e) => {
    if (drag === null) return;
    const a = drag, b = timeAt(e); drag = null;
    if (Math.abs(b - a) > 1e-6) load(Math.min(a, b), Math.max(a, b));
  });
  canvas.addEventListener("dblclick", () => load());
  window.addEventListener("resize", () => { if (data) draw(); });

  load().then(() => {
    const img = document.getElementById("preview");
    if (img) img.replaceWith(canvas); else figure.prepend(canvas);
    figure.insertBefore(readout, canvas.nextSibling);
    draw();
  }).catch(() => { /* keep the preview PNG */ });
})();
