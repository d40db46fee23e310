// glassbox run page: the curves (SVG, drawn here from the JSON the page carries; hover or arrow
// keys show the values at a step; steps on a logarithmic axis on request), the checkpoint
// buttons that load a checkpoint into the playground, the trace box, and the hash check of a
// bundle. Plain JavaScript, no build step, nothing fetched from elsewhere.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 260, M = { l: 64, r: 16, t: 12, b: 36 };

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return Number(v.toPrecision(4)).toExponential();
  return Number(v.toPrecision(5)).toString();
}

function ticks(lo, hi, n) {
  if (!(hi > lo)) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const err = (hi - lo) / n / step;
  const s = step * (err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1);
  const out = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + s * 1e-9; v += s) out.push(Number(v.toPrecision(12)));
  return out;
}

// One chart: series [{name, cls, points: [[step, value], ...]}] in figure `fig`.
function chart(fig, series, logx) {
  for (const old of fig.querySelectorAll("svg, .tip, .legend")) old.remove();
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  if (!all.length) {
    const p = document.createElement("p");
    p.className = "legend";
    p.textContent = "No data yet.";
    fig.appendChild(p);
    return;
  }
  const X = (step) => (logx ? Math.log10(step + 1) : step);
  let x0 = Math.min(...all.map((p) => X(p[0]))), x1 = Math.max(...all.map((p) => X(p[0])));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.05 || 1; y1 += Math.abs(y1) * 0.05 || 1; }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad; y1 += pad;
  const sx = (v) => M.l + ((X(v) - x0) / (x1 - x0)) * (W - M.l - M.r);
  const sy = (v) => H - M.b - ((v - y0) / (y1 - y0)) * (H - M.t - M.b);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "plot" });
  const first = series.find((s) => s.points.length);
  const last = first.points[first.points.length - 1];
  el("title", {}, svg).textContent = `${fig.querySelector("figcaption").textContent}: ${first.name} ` +
    `${fmt(first.points[0][1])} at step ${first.points[0][0]}, ${fmt(last[1])} at step ${last[0]}`;
  const axis = el("g", { class: "axis" }, svg);
  for (const v of ticks(y0, y1, 5)) {
    el("line", { x1: M.l, x2: W - M.r, y1: sy(v), y2: sy(v), class: "grid" }, axis);
    el("text", { x: M.l - 6, y: sy(v) + 4, "text-anchor": "end" }, axis).textContent = fmt(v);
  }
  // Tick steps: round numbers on a linear axis; 0, 1, 2, 5, 10, 20, 50 … on a logarithmic one.
  const decades = [0];
  for (let d = 1; d <= 1e7; d *= 10) decades.push(d, 2 * d, 5 * d);
  const xt = (logx ? decades : ticks(x0, x1, 6)).filter((v) => X(v) >= x0 - 1e-9 && X(v) <= x1 + 1e-9);
  for (const v of xt) {
    el("line", { x1: sx(v), x2: sx(v), y1: H - M.b, y2: H - M.b + 4 }, axis);
    el("text", { x: sx(v), y: H - M.b + 16, "text-anchor": "middle" }, axis).textContent = fmt(v);
  }
  el("text", { x: (W + M.l) / 2, y: H - 4, "text-anchor": "middle" }, axis).textContent = logx ? "step (log scale of step + 1)" : "step";
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (!pts.length) return;
    const d = pts.map((p, j) => (j ? "L" : "M") + sx(p[0]).toFixed(1) + " " + sy(p[1]).toFixed(1)).join(" ");
    el("path", { d, class: "series s" + i }, svg);
    if (pts.length < 40) for (const p of pts) el("circle", { cx: sx(p[0]), cy: sy(p[1]), r: 2.5, class: "dot s" + i }, svg);
  });
  const cursor = el("line", { y1: M.t, y2: H - M.b, class: "cursor", visibility: "hidden" }, svg);
  fig.appendChild(svg);
  const legend = document.createElement("p");
  legend.className = "legend";
  series.forEach((s, i) => {
    const k = document.createElement("span");
    k.className = "key s" + i;
    k.textContent = s.name;
    legend.appendChild(k);
  });
  fig.appendChild(legend);
  const tip = document.createElement("div");
  tip.className = "tip";
  tip.setAttribute("role", "status");
  tip.hidden = true;
  fig.appendChild(tip);
  // The steps one can stop at: every step of any series.
  const steps = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  let at = -1;
  function show(i) {
    at = Math.max(0, Math.min(steps.length - 1, i));
    const step = steps[at];
    cursor.setAttribute("x1", sx(step));
    cursor.setAttribute("x2", sx(step));
    cursor.setAttribute("visibility", "visible");
    const lines = ["step " + step];
    series.forEach((s) => {
      let best = null;
      for (const p of s.points) if (p[0] <= step && (best === null || p[0] > best[0])) best = p;
      if (best && best[0] === step) lines.push(s.name + ": " + fmt(best[1]));
    });
    tip.textContent = lines.join(" · ");
    tip.hidden = false;
  }
  function hide() {
    cursor.setAttribute("visibility", "hidden");
    tip.hidden = true;
  }
  svg.addEventListener("mousemove", (e) => {
    const r = svg.getBoundingClientRect();
    const x = ((e.clientX - r.left) / r.width) * W;
    let best = 0;
    for (let i = 0; i < steps.length; i++) if (Math.abs(sx(steps[i]) - x) < Math.abs(sx(steps[best]) - x)) best = i;
    show(best);
  });
  svg.addEventListener("mouseleave", hide);
  fig.tabIndex = 0;
  fig.onkeydown = (e) => {
    if (e.key === "ArrowRight") { show(at + 1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { show(at < 0 ? steps.length - 1 : at - 1); e.preventDefault(); }
    else if (e.key === "Home") { show(0); e.preventDefault(); }
    else if (e.key === "End") { show(steps.length - 1); e.preventDefault(); }
    else if (e.key === "Escape") hide();
  };
  fig.onblur = hide;
}

function drawAll(data) {
  const logx = document.getElementById("logx").checked;
  const loss = document.getElementById("chart-loss");
  if (loss) {
    chart(loss, [
      { name: "training loss", points: data.train.map((p) => [p[0], p[1]]) },
      { name: "held-out loss", points: data.eval.map((p) => [p[0], p[1]]) },
    ], logx);
  }
  const lr = document.getElementById("chart-lr");
  if (lr) chart(lr, [{ name: "learning rate", points: data.train.filter((p) => p[2] !== null).map((p) => [p[0], p[2]]) }], logx);
  for (const fig of document.querySelectorAll("figure[data-task]")) {
    const task = fig.dataset.task;
    const points = data.evals[task] || [];
    const metrics = [...new Set(points.flatMap((p) => Object.keys(p[1] || {})))];
    let select = fig.querySelector("select");
    if (!select && metrics.length) {
      const label = document.createElement("label");
      label.textContent = "Metric ";
      select = document.createElement("select");
      for (const m of metrics) {
        const o = document.createElement("option");
        o.value = m;
        o.textContent = m;
        select.appendChild(o);
      }
      select.addEventListener("change", () => drawAll(data));
      label.appendChild(select);
      fig.querySelector("figcaption").after(label);
    }
    const m = select ? select.value : null;
    chart(fig, [{ name: task + (m ? " " + m : ""), points: points.filter((p) => p[1] && typeof p[1][m] === "number").map((p) => [p[0], p[1][m]]) }], logx);
  }
}

async function postJSON(path, body) {
  const r = await fetch(path, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  let j = null;
  try { j = await r.json(); } catch (_) { /* not JSON */ }
  if (!r.ok) {
    const msg = j && j.error ? j.error.message : r.status === 413 ? "the text is too long" : "HTTP " + r.status;
    throw new Error(msg);
  }
  return j;
}

function text(parent, tag, content, cls) {
  const e = document.createElement(tag);
  e.textContent = content;
  if (cls) e.className = cls;
  parent.appendChild(e);
  return e;
}

function initTrace() {
  const form = document.getElementById("trace-form");
  if (!form) return;
  const out = document.getElementById("trace-result");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const query = document.getElementById("trace-query").value;
    out.textContent = "Tracing…";
    out.className = "";
    try {
      const r = await postJSON("/ui/api/trace", { path: form.dataset.path, query });
      out.textContent = "";
      if (!r.documents.length) {
        text(out, "p", r.by === "text" ? "No document of the training data holds this text." : "No such document.");
        return;
      }
      if (r.by === "text" && r.documents.length >= r.limit) text(out, "p", "The first " + r.limit + " documents holding it:");
      const table = document.createElement("table");
      table.id = "trace-table";
      const head = table.insertRow();
      for (const h of ["document", "split", "first step", "first checkpoint", "steps that saw it", "tokens trained"]) text(head, "th", h);
      for (const d of r.documents) {
        const row = table.insertRow();
        text(row, "td", d.id);
        text(row, "td", d.split || "");
        text(row, "td", d.first_step === null ? "never" : String(d.first_step + 1));
        text(row, "td", d.first_checkpoint === null ? "none" : String(d.first_checkpoint), "first-checkpoint");
        const steps = d.steps.map((s) => s + 1);
        text(row, "td", steps.length > 20 ? steps.slice(0, 20).join(", ") + " … (" + steps.length + ")" : steps.join(", ") || "none");
        text(row, "td", String(d.tokens_trained));
      }
      out.appendChild(table);
      text(out, "p", "Steps are counted from 1 (the first optimiser step); a checkpoint at step N holds the weights after N steps.", "note");
    } catch (err) {
      out.textContent = "";
      text(out, "p", err.message, "error").id = "trace-error";
    }
  });
}

function initLoad() {
  const status = document.getElementById("load-status");
  for (const b of document.querySelectorAll("button.load")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      status.textContent = "Loading step " + b.dataset.step + "…";
      status.className = "";
      try {
        const r = await postJSON("/ui/api/load", { path: b.dataset.path, step: Number(b.dataset.step) });
        window.location.href = "/?model=" + encodeURIComponent(r.model);
      } catch (err) {
        status.textContent = "Could not load step " + b.dataset.step + ": " + err.message;
        status.className = "error";
        b.disabled = false;
      }
    });
  }
}

function initVerify() {
  const b = document.getElementById("verify");
  if (!b) return;
  const out = document.getElementById("verify-result");
  b.addEventListener("click", async () => {
    b.disabled = true;
    out.textContent = "Checking every file against MANIFEST.json…";
    out.className = "";
    try {
      const r = await postJSON("/ui/api/verify", { path: b.dataset.path });
      if (r.passed) {
        out.textContent = "Passed: " + r.checks.join(", ") + " (the replay is `glassbox verify`'s to run).";
        out.className = "ok";
      } else {
        out.textContent = "Verification failed: " + r.failed.map((f) => f.check + ": " + f.summary + (f.details.length ? " (" + f.details.join("; ") + ")" : "")).join("; ");
        out.className = "error";
      }
    } catch (err) {
      out.textContent = err.message;
      out.className = "error";
    }
    b.disabled = false;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  try {
    const t = localStorage.getItem("glassbox-theme");
    if (t) document.documentElement.dataset.theme = t;
  } catch (_) { /* private mode */ }
  const blob = document.getElementById("run-data");
  if (blob) {
    const data = JSON.parse(blob.textContent);
    drawAll(data);
    document.getElementById("logx").addEventListener("change", () => drawAll(data));
  }
  initTrace();
  initLoad();
  initVerify();
});
