// The review page: every value from the server goes into the DOM as text (never as HTML or code).
"use strict";
const KEY = "jobtag-token";
const $ = id => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = String(v ?? "");
    else if (k === "class") node.className = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

class AuthNeeded extends Error {}

async function api(path, body) {
  const headers = {};
  const token = sessionStorage.getItem(KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const init = {headers};
  if (body) { init.method = "POST"; headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
  const r = await fetch(path, init);
  let j;
  try { j = await r.json(); } catch (e) { throw new Error("HTTP " + r.status + " (not JSON)"); }
  if (r.status === 401) throw new AuthNeeded(j.detail || "token needed");
  if (!r.ok) throw new Error(typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail ?? j));
  return j;
}

function tags(names, cls) {
  return (names || []).map(t => el("span", {class: cls, text: t}));
}

function row(j) {
  const input = el("input", {type: "text"});
  input.value = (j.human_tags || j.predicted || []).join(", ");
  const saved = el("span");
  const button = el("button", {type: "button", text: "Save"});
  button.addEventListener("click", () => save(j.job_id, input, saved));
  const human = j.human_tags ? [...tags(j.human_tags, "tag human"), el("br")] : [];
  return el("tr", {},
    el("td", {text: j.job_id}),
    el("td", {text: j.title}),
    el("td", {}, ...tags(j.predicted, "tag")),
    el("td", {text: "v" + (j.model_version ?? "")}),
    el("td", {}, ...human, input, " ", button, " ", saved));
}

async function load() {
  const h = await api("/health");
  let rec;
  try {
    rec = await api("/recent?limit=50");
  } catch (e) {
    if (e instanceof AuthNeeded) { askToken(e.message); return; }
    throw e;
  }
  $("login").hidden = true;
  $("status").textContent = "active model: " + (h.model_version == null ? "none" : "v" + h.model_version)
    + (h.auth ? "" : " — authentication is OFF");
  $("rows").replaceChildren(...rec.jobs.map(row));
}

function askToken(why) {
  sessionStorage.removeItem(KEY);
  $("status").textContent = why;
  $("login").hidden = false;
  $("token").focus();
}

async function save(jobId, input, out) {
  const names = input.value.split(",").map(s => s.trim()).filter(Boolean);
  try { await api("/feedback", {job_id: jobId, tags: names}); out.textContent = "saved"; }
  catch (e) { out.textContent = "error: " + e.message; }
}

async function tryIt() {
  const out = $("tryout");
  try {
    const r = await api("/predict", {jobs: [{title: $("t").value, description: $("d").value}], top_k: 5});
    const p = r.predictions[0];
    out.textContent = (p.tags.join(", ") || "(no tag above threshold)") + "  —  "
      + Object.entries(p.scores).map(([t, s]) => t + " " + s.toFixed(2)).join(", ");
    load().catch(fail);
  } catch (e) { out.textContent = "error: " + e.message; }
}

function fail(e) { $("status").textContent = "error: " + e.message; $("status").className = "error"; }

document.addEventListener("DOMContentLoaded", () => {
  $("login").addEventListener("submit", ev => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    load().catch(fail);
  });
  $("predict").addEventListener("click", tryIt);
  load().catch(fail);
});
