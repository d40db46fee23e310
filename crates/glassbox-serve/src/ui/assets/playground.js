// glassbox playground: chat and completion against this server's OpenAI-compatible API, streamed,
// with each generated token coloured by its probability and its top alternatives on hover/focus.
// Plain JavaScript, no build step, no network access beyond this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { messages: [], controller: null, keyWaiters: [], keyed: false };

// ---------- theme ----------
function setTheme(dark) {
  document.documentElement.dataset.theme = dark ? "dark" : "light";
  $("theme").setAttribute("aria-pressed", String(dark));
  try { localStorage.setItem("glassbox-theme", dark ? "dark" : "light"); } catch (_) { /* private mode */ }
}
function initTheme() {
  let saved = null;
  try { saved = localStorage.getItem("glassbox-theme"); } catch (_) { /* private mode */ }
  const dark = saved ? saved === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
  setTheme(dark);
  $("theme").addEventListener("click", () => setTheme(document.documentElement.dataset.theme !== "dark"));
}

// ---------- API access (asks for the key once when the server wants one) ----------
// The key goes to POST /ui/key, which answers with an HttpOnly cookie the browser then sends
// with every request (and with the report pages); the page never stores the key itself.
function askKey(message) {
  $("key-error").textContent = message || "";
  const d = $("key-dialog");
  if (!d.open) d.showModal();
  $("key").focus();
  return new Promise((resolve) => state.keyWaiters.push(resolve));
}
async function api(path, init) {
  for (let refused = false; ; ) {
    const r = await fetch(path, Object.assign({ credentials: "same-origin" }, init));
    if (r.status !== 401) return r;
    state.keyed = true;
    const key = await askKey(refused ? "That key was refused; try again." : "");
    const k = await fetch("/ui/key", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ key }),
    });
    refused = !k.ok;
    if (refused) continue;
  }
}
async function errorText(r) {
  try {
    const j = await r.json();
    if (j && j.error) return j.error.message + (j.error.param ? " (" + j.error.param + ")" : "");
  } catch (_) { /* not JSON */ }
  return "HTTP " + r.status;
}

// ---------- settings and the request ----------
function mode() { return document.querySelector('input[name="mode"]:checked').value; }
function num(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}
function buildRequest(text) {
  const body = { model: $("model").value };
  if (mode() === "chat") {
    const msgs = [];
    const sys = $("system").value.trim();
    if (sys) msgs.push({ role: "system", content: sys });
    body.messages = msgs.concat(state.messages, text === null ? [] : [{ role: "user", content: text }]);
  } else {
    body.prompt = text === null ? "" : text;
  }
  const t = num("temperature"), p = num("top_p"), k = num("top_k"), mp = num("min_p");
  const seed = num("seed"), max = num("max_tokens");
  if (t !== null) body.temperature = t;
  if (p !== null) body.top_p = p;
  if (k !== null && k > 0) body.top_k = k;
  if (mp !== null && mp > 0) body.min_p = mp;
  if (seed !== null) body.seed = seed;
  if (max !== null) body.max_tokens = max;
  if ($("probs").checked) {
    if (mode() === "chat") { body.logprobs = true; body.top_logprobs = 5; } else { body.logprobs = 5; }
  }
  body.stream = true;
  return body;
}
function endpoint() { return mode() === "chat" ? "/v1/chat/completions" : "/v1/completions"; }

function shellQuote(s) { return "'" + s.replace(/'/g, "'\\''") + "'"; }
function pyLiteral(v) {
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (Array.isArray(v)) return "[" + v.map(pyLiteral).join(", ") + "]";
  if (typeof v === "object") {
    return "{" + Object.keys(v).map((k) => JSON.stringify(k) + ": " + pyLiteral(v[k])).join(", ") + "}";
  }
  return JSON.stringify(v);
}
function snippets(body) {
  const base = window.location.origin;
  const auth = state.keyed ? ' \\\n  -H "Authorization: Bearer $GLASSBOX_API_KEY"' : "";
  $("curl").textContent = "curl -N " + base + endpoint() + ' \\\n  -H "Content-Type: application/json"' + auth +
    " \\\n  -d " + shellQuote(JSON.stringify(body));
  const standard = ["model", "messages", "prompt", "temperature", "top_p", "seed", "max_tokens", "stream", "logprobs", "top_logprobs"];
  const args = [];
  const extra = {};
  for (const [k, v] of Object.entries(body)) {
    if (standard.includes(k)) args.push("    " + k + "=" + pyLiteral(v) + ","); else extra[k] = v;
  }
  if (Object.keys(extra).length) args.push("    extra_body=" + pyLiteral(extra) + ",");
  const call = mode() === "chat" ? "client.chat.completions.create" : "client.completions.create";
  const piece = mode() === "chat" ? "chunk.choices[0].delta.content or \"\"" : "chunk.choices[0].text";
  $("python").textContent = "import os\nfrom openai import OpenAI\n\nclient = OpenAI(base_url=" + JSON.stringify(base + "/v1") +
    ", api_key=os.environ.get(\"GLASSBOX_API_KEY\", \"none\"))\nstream = " + call + "(\n" + args.join("\n") +
    "\n)\nfor chunk in stream:\n    if chunk.choices:\n        print(" + piece + ", end=\"\", flush=True)\nprint()\n";
}
function refreshSnippets() {
  const text = $("prompt").value;
  snippets(buildRequest(text === "" ? "Hello" : text));
}

// ---------- the conversation ----------
function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "user" ? "You" : role === "assistant" ? "Model" : role === "completion" ? "Prompt and completion" : "Error";
  div.appendChild(who);
  if (text) div.appendChild(document.createTextNode(text));
  $("log").appendChild(div);
  $("log").scrollTop = $("log").scrollHeight;
  return div;
}
// Hue from red (improbable) to green (probable).
function hue(p) { return Math.round(120 * Math.max(0, Math.min(1, p))); }
function addToken(div, text, info) {
  const span = document.createElement("span");
  span.className = "tok";
  span.textContent = text;
  if (info) {
    const p = Math.exp(info.logprob);
    span.style.setProperty("--hue", String(hue(p)));
    span.dataset.info = JSON.stringify(info);
    span.tabIndex = 0;
    span.setAttribute("aria-label", text + ", probability " + (100 * p).toFixed(1) + " percent");
  }
  div.appendChild(span);
  $("log").scrollTop = $("log").scrollHeight;
}
// One streamed chunk: its text and, when asked for, the probabilities of its token(s).
function chunkParts(j) {
  const c = j.choices && j.choices[0];
  if (!c) return null;
  if (mode() === "chat" || c.delta) {
    const text = (c.delta && c.delta.content) || "";
    const lp = c.logprobs && c.logprobs.content && c.logprobs.content[0];
    const info = lp ? { token: lp.token, logprob: lp.logprob,
      top: (lp.top_logprobs || []).map((t) => [t.token, t.logprob]) } : null;
    return { text, info, finish: c.finish_reason };
  }
  const lp = c.logprobs;
  let info = null;
  if (lp && lp.tokens && lp.tokens.length) {
    const top = lp.top_logprobs && lp.top_logprobs[0] ? Object.entries(lp.top_logprobs[0]) : [];
    info = { token: lp.tokens[0], logprob: lp.token_logprobs[0], top };
  }
  return { text: c.text || "", info, finish: c.finish_reason };
}
function status(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}
function busy(on) {
  $("send").disabled = on;
  $("stop").disabled = !on;
}

async function send(ev) {
  if (ev) ev.preventDefault();
  const text = $("prompt").value;
  if (!text.trim() || state.controller) return;
  if (!$("model").value) { status("No model to send to.", true); return; }
  const body = buildRequest(text);
  snippets(body);
  let out;
  if (mode() === "chat") {
    addMessage("user", text);
    out = addMessage("assistant", "");
  } else {
    out = addMessage("completion", "");
    const prompt = document.createElement("span");
    prompt.className = "prompt-text";
    prompt.textContent = text;
    out.appendChild(prompt);
  }
  $("prompt").value = "";
  state.controller = new AbortController();
  busy(true);
  status("Generating…");
  let reply = "";
  let tokens = 0;
  let finish = null;
  try {
    const r = await api(endpoint(), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: state.controller.signal,
    });
    if (!r.ok) throw new Error(await errorText(r));
    const reader = r.body.getReader();
    const dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += dec.decode(value, { stream: true });
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data:")) continue;
          const data = line.slice(5).trim();
          if (data === "[DONE]") continue;
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message || "the server reported an error");
          const part = chunkParts(j);
          if (!part) continue;
          if (part.text || part.info) {
            addToken(out, part.text, part.info);
            reply += part.text;
            tokens += 1;
            status("Generating… " + tokens + " tokens");
          }
          if (part.finish) finish = part.finish;
        }
      }
    }
    status("Done: " + tokens + " tokens" + (finish ? ", finish reason " + finish : "") + ".");
  } catch (e) {
    if (e.name === "AbortError") {
      status("Stopped after " + tokens + " tokens.");
    } else {
      const err = addMessage("error", e.message);
      err.setAttribute("role", "alert");
      status("Failed: " + e.message, true);
    }
  } finally {
    if (mode() === "chat" && reply) {
      state.messages.push({ role: "user", content: text }, { role: "assistant", content: reply });
    }
    state.controller = null;
    busy(false);
    refreshSnippets();
  }
}

// ---------- the probability pop-up ----------
function showTip(span) {
  if (!span.dataset.info || !$("log").classList.contains("probs")) return;
  const info = JSON.parse(span.dataset.info);
  const tip = $("tip");
  tip.textContent = "";
  const table = document.createElement("table");
  const cap = document.createElement("caption");
  cap.textContent = "Top alternatives";
  table.appendChild(cap);
  const rows = info.top.length ? info.top : [[info.token, info.logprob]];
  for (const [tok, lp] of rows) {
    const tr = document.createElement("tr");
    if (tok === info.token) tr.className = "chosen";
    const a = document.createElement("td");
    a.textContent = JSON.stringify(tok);
    const b = document.createElement("td");
    b.textContent = (100 * Math.exp(lp)).toFixed(2) + " %";
    tr.append(a, b);
    table.appendChild(tr);
  }
  tip.appendChild(table);
  tip.hidden = false;
  const r = span.getBoundingClientRect();
  tip.style.left = Math.max(4, window.scrollX + r.left) + "px";
  tip.style.top = window.scrollY + r.bottom + 4 + "px";
  tip.id = "tip";
  span.setAttribute("aria-describedby", "tip");
}
function hideTip() {
  $("tip").hidden = true;
}

// ---------- start ----------
async function loadModels() {
  try {
    const r = await api("/v1/models");
    if (!r.ok) throw new Error(await errorText(r));
    const j = await r.json();
    const sel = $("model");
    sel.textContent = "";
    for (const m of j.data) {
      const o = document.createElement("option");
      o.value = m.id;
      o.textContent = m.id + (m.max_model_len ? " (context " + m.max_model_len + ")" : "");
      sel.appendChild(o);
    }
    // `?model=NAME` (a checkpoint opened from a run page) picks that model.
    const want = new URLSearchParams(window.location.search).get("model");
    if (want && j.data.some((m) => m.id === want)) sel.value = want;
    status(j.data.length ? "Ready." : "This server has no models.", !j.data.length);
  } catch (e) {
    status("Could not list the models: " + e.message, true);
  }
  refreshSnippets();
}

function init() {
  initTheme();
  $("key-form").addEventListener("submit", () => {
    const key = $("key").value;
    $("key").value = "";
    const waiters = state.keyWaiters.splice(0);
    for (const w of waiters) w(key);
  });
  $("send-form").addEventListener("submit", send);
  $("prompt").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) send(e);
  });
  $("stop").addEventListener("click", () => { if (state.controller) state.controller.abort(); });
  $("clear").addEventListener("click", () => {
    state.messages = [];
    $("log").textContent = "";
    status("Conversation cleared.");
    refreshSnippets();
  });
  $("probs").addEventListener("change", () => {
    $("log").classList.toggle("probs", $("probs").checked);
    refreshSnippets();
  });
  $("log").classList.toggle("probs", $("probs").checked);
  for (const el of document.querySelectorAll("#settings input, #settings select, #settings textarea, #prompt")) {
    el.addEventListener("input", refreshSnippets);
  }
  for (const b of document.querySelectorAll("button.copy")) {
    b.addEventListener("click", async () => {
      const text = $(b.dataset.copy).textContent;
      try { await navigator.clipboard.writeText(text); status("Copied."); } catch (_) { status("Select the text and copy it (the clipboard is not available here)."); }
    });
  }
  const log = $("log");
  log.addEventListener("mouseover", (e) => { if (e.target.classList.contains("tok")) showTip(e.target); });
  log.addEventListener("mouseout", (e) => { if (e.target.classList.contains("tok")) hideTip(); });
  log.addEventListener("focusin", (e) => { if (e.target.classList.contains("tok")) showTip(e.target); });
  log.addEventListener("focusout", hideTip);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") hideTip(); });
  loadModels();
}
document.addEventListener("DOMContentLoaded", init);
