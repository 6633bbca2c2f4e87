// The review queue: every value from the server goes into the DOM as text (never as HTML or code).
"use strict";
const KEY = "jobtag-token";
const PAGE = 10;
const $ = id => document.getElementById(id);
const view = {state: "unreviewed", tag: "", offset: 0, total: 0, items: [], current: -1, seq: 0};

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

const when = iso => iso ? String(iso).replace("T", " ").slice(0, 16) + " UTC" : "";

function why(expl) {
  // "backend, apis (title words marked) — against: python"
  const words = list => list.map(w => (w.title ? "“" + w.word + "” (title)" : w.word)).join(", ");
  const out = el("span", {class: "why"});
  if (!expl) return out;
  out.append(el("span", {class: "for", text: expl.for.length ? words(expl.for) : "(no word: the job as a whole)"}));
  if (expl.against.length) out.append(el("span", {class: "against", text: " — against: " + words(expl.against)}));
  return out;
}

function scoreBars(item) {
  const box = el("div", {class: "scores"});
  for (const [tag, s] of Object.entries(item.scores).slice(0, 5)) {
    const fill = el("span", {class: "fill"});
    fill.style.width = Math.round(s * 100) + "%";
    const bar = el("span", {class: "bar"}, fill);
    const thr = item.thresholds ? item.thresholds[tag] : undefined;
    if (thr !== undefined) {
      const mark = el("span", {class: "thr", title: "threshold " + thr.toFixed(2)});
      mark.style.left = Math.round(thr * 100) + "%";
      bar.append(mark);
    }
    box.append(el("div", {class: "score"}, el("span", {class: "name", text: tag}), bar,
      el("span", {class: "num", text: s.toFixed(2)})));
  }
  return box;
}

function renderTags(item) {
  const box = item.node.querySelector(".tags");
  box.replaceChildren();
  item.working.forEach((t, i) => {
    const removed = item.removed.has(t);
    const chip = el("span", {class: "chip" + (removed ? " removed" : "") + (item.added.has(t) ? " added" : "")},
      el("kbd", {text: String(i + 1)}), " ", el("span", {class: "label", text: t}));
    const x = el("button", {type: "button", class: "x", title: (removed ? "restore " : "remove ") + t,
      text: removed ? "↺" : "×"});
    x.addEventListener("click", () => toggle(item, i));
    chip.append(x);
    box.append(chip);
    const expl = item.explanations ? item.explanations[t] : null;
    if (expl && !removed) box.append(el("div", {class: "because"}, el("span", {class: "muted", text: t + " because: "}), why(expl)));
  });
  if (!item.working.length) box.append(el("span", {class: "muted", text: "(no tag)"}));
}

function finalTags(item) { return item.working.filter(t => !item.removed.has(t)); }

function toggle(item, i) {
  const t = item.working[i];
  if (t === undefined) return;
  if (item.removed.has(t)) item.removed.delete(t); else item.removed.add(t);
  renderTags(item);
}

function addTag(item, name) {
  const t = name.trim();
  if (!t) return;
  if (!item.working.includes(t)) { item.working.push(t); item.added.add(t); }
  item.removed.delete(t);
  renderTags(item);
}

function history(item) {
  const box = el("div", {class: "history"});
  for (const c of item.corrections || []) {
    box.append(el("div", {class: "muted", text: "corrected by " + (c.who || "?") + " (" + c.source + ") at " + when(c.at)
      + ": " + (c.tags.join(", ") || "(no tag)")}));
  }
  return box;
}

function card(item, index) {
  item.working = [...(item.human_tags ?? item.predicted)];
  item.removed = new Set();
  item.added = new Set();
  const add = el("input", {type: "text", class: "add", list: "known-tags", placeholder: "add a tag", size: "16"});
  add.addEventListener("keydown", ev => {
    if (ev.key === "Enter") { ev.preventDefault(); addTag(item, add.value); add.value = ""; }
    else if (ev.key === "Escape") { ev.preventDefault(); add.value = ""; item.node.focus(); }
    ev.stopPropagation();
  });
  const accept = el("button", {type: "button", class: "accept", title: "accept the tags as is (a)", text: "Accept"});
  const save = el("button", {type: "button", class: "save", title: "save the tags shown (s)", text: "Save"});
  accept.addEventListener("click", () => submit(item, true));
  save.addEventListener("click", () => submit(item, false));
  const desc = el("details", {class: "desc"}, el("summary", {text: "description"}),
    el("div", {class: "text", text: item.text ?? item.description}));
  const head = el("div", {class: "head"},
    el("span", {class: "title", text: item.title || "(no title)"}),
    el("span", {class: "muted id", text: " " + item.job_id + (item.company_name ? " · " + item.company_name : "")}),
    el("span", {class: "muted doubt", text: item.doubt == null ? "" : " · " + item.doubt.toFixed(3) + " from a threshold"
      + " · model v" + (item.model_version ?? "?")}));
  const node = el("article", {class: "item" + (item.human_tags ? " reviewed" : ""), tabindex: "0", "data-job": item.job_id},
    head, scoreBars(item), el("div", {class: "tags"}),
    el("div", {class: "actions"}, add, " ", accept, " ", save, " ", el("span", {class: "saved"})),
    desc, history(item));
  node.addEventListener("focus", () => { view.current = index; mark(); });
  item.node = node;
  renderTags(item);
  return node;
}

function mark() {
  view.items.forEach((it, i) => it.node.classList.toggle("current", i === view.current));
}

function focusItem(i) {
  if (!view.items.length) return;
  view.current = Math.max(0, Math.min(view.items.length - 1, i));
  const node = view.items[view.current].node;
  node.focus();
  node.scrollIntoView({block: "nearest"});
  mark();
}

async function submit(item, asIs) {
  const names = asIs ? [...(item.human_tags ?? item.predicted)] : finalTags(item);
  const out = item.node.querySelector(".saved");
  try {
    const r = await api("/feedback", {job_id: item.job_id, tags: names});
    out.textContent = (asIs ? "accepted" : "saved") + ": " + (r.tags.join(", ") || "(no tag)");
    item.node.classList.add("reviewed", "done");
    refreshCounts().catch(fail);
    if (view.items[view.current] === item) focusItem(view.current + 1);
  } catch (e) { out.textContent = "error: " + e.message; }
}

async function refreshCounts() {
  const c = await api("/review/counts");
  const u = c.next_update;
  const next = u.running ? "running now" : !u.auto ? "manual (jobtag update)"
    : u.new_jobs + " / " + u.every_n_jobs + " new jobs";
  $("counts").replaceChildren(
    el("li", {}, el("b", {text: c.waiting}), " waiting"),
    el("li", {}, el("b", {text: c.reviewed_today}), " reviewed today"),
    el("li", {}, el("b", {text: c.corrections_since_update}), " corrections since the last update"),
    el("li", {}, "next update: ", el("b", {text: next})));
}

async function loadQueue() {
  const q = new URLSearchParams({state: view.state, offset: view.offset, limit: PAGE});
  if (view.tag) q.set("tag", view.tag);
  const seq = ++view.seq;
  const page = await api("/review/queue?" + q);
  if (seq !== view.seq) return; // a newer request (filter, page) was sent meanwhile
  view.total = page.total;
  view.items = page.items;
  $("queue").replaceChildren(...page.items.map(card));
  if (!page.items.length) $("queue").append(el("p", {class: "muted", text: "nothing to review here"}));
  const last = Math.min(view.offset + page.items.length, page.total);
  $("range").textContent = page.total ? (view.offset + 1) + "–" + last + " of " + page.total : "0 of 0";
  $("prev").disabled = view.offset === 0;
  $("next").disabled = last >= page.total;
  view.current = -1;
  // keep the focus where a person is typing (a filter, the try-a-job box): a load finishing
  // meanwhile must not turn their next letters into review shortcuts
  const typing = document.activeElement?.matches("input, textarea, select");
  if (page.items.length && !typing) focusItem(0);
}

async function load() {
  const h = await api("/health");
  try {
    await refreshCounts();
  } catch (e) {
    if (e instanceof AuthNeeded) { askToken(e.message); return; }
    throw e;
  }
  $("login").hidden = true;
  $("status").textContent = "active model: " + (h.model_version == null ? "none" : "v" + h.model_version)
    + (h.auth ? "" : " — authentication is OFF");
  const known = await api("/tags");
  $("known-tags").replaceChildren(...known.tags.map(t => el("option", {value: t})));
  await loadQueue();
}

function askToken(why) {
  sessionStorage.removeItem(KEY);
  $("status").textContent = why;
  $("login").hidden = false;
  $("token").focus();
}

function page(delta) {
  const offset = view.offset + delta * PAGE;
  if (offset < 0 || offset >= view.total) return;
  view.offset = offset;
  loadQueue().catch(fail);
}

function onKey(ev) {
  if (ev.target.closest("input, textarea, select") || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const item = view.items[view.current];
  const k = ev.key;
  if (k === "j") focusItem(view.current + 1);
  else if (k === "k") focusItem(view.current - 1);
  else if (k === "n") page(1);
  else if (k === "p") page(-1);
  else if (!item) return;
  else if (k === "a") submit(item, true);
  else if (k === "s") submit(item, false);
  else if (k >= "1" && k <= "9") toggle(item, Number(k) - 1);
  else if (k === "t") item.node.querySelector(".add").focus();
  else if (k === "d") { const d = item.node.querySelector("details"); d.open = !d.open; }
  else return;
  ev.preventDefault();
}

async function tryIt() {
  const out = $("tryout");
  try {
    const r = await api("/predict", {jobs: [{title: $("t").value, description: $("d").value}], top_k: 5, explain: true});
    const p = r.predictions[0];
    out.replaceChildren(el("div", {text: (p.tags.join(", ") || "(no tag above threshold)") + "  —  "
      + Object.entries(p.scores).map(([t, s]) => t + " " + s.toFixed(2)).join(", ")}),
      ...p.tags.map(t => el("div", {class: "because"}, el("span", {class: "muted", text: t + " because: "}),
        why(p.explanations[t]))));
    refreshCounts().catch(fail);
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
  $("apply").addEventListener("click", () => {
    view.state = $("state").value; view.tag = $("tagfilter").value.trim(); view.offset = 0;
    loadQueue().catch(fail);
  });
  $("state").addEventListener("change", () => $("apply").click());
  $("tagfilter").addEventListener("keydown", ev => { if (ev.key === "Enter") $("apply").click(); });
  $("prev").addEventListener("click", () => page(-1));
  $("next").addEventListener("click", () => page(1));
  $("predict").addEventListener("click", tryIt);
  document.addEventListener("keydown", onKey);
  load().catch(fail);
});
