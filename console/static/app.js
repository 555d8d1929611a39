/*
 * pgbroker console: the page.  It reads the JSON API (/api/v1/...) every
 * two seconds and draws the overview, a queue or a topic.  Every name,
 * payload and error reaches the page as text (text nodes, never markup).
 * Actions are POSTs carrying the session's token; buttons are shown only
 * for what the role may do and never in read-only mode.
 */
"use strict";

const REFRESH_MS = 2000;
const HISTORY_S = 600;
let session = null;
let timer = null;
let view = null;	/* the drawn page: {route, charts, history} */

/* ---- building elements: children that are strings become text ---- */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}
const num = (v) => (v === null || v === undefined) ? "–" : Number(v).toLocaleString("en-US");
const secs = (v) => (v === null || v === undefined) ? "–" : (v < 100 ? Number(v).toFixed(1) : Math.round(v).toLocaleString("en-US")) + " s";
const rate = (v) => (v === null || v === undefined) ? "–" : Number(v).toFixed(1);
const bytes = (v) => {
  if (v === null || v === undefined) return "–";
  const u = ["B", "kB", "MB", "GB", "TB"]; let i = 0; let x = Number(v);
  while (x >= 1024 && i < u.length - 1) { x /= 1024; i++; }
  return (i ? x.toFixed(1) : x) + " " + u[i];
};

/* ---- the API ---- */
async function get(path) {
  const r = await fetch(path, { credentials: "same-origin", headers: { "Accept": "application/json" } });
  const body = await r.json().catch(() => ({ error: "not JSON (HTTP " + r.status + ")" }));
  if (!r.ok) throw Object.assign(new Error(body.error || ("HTTP " + r.status)), { status: r.status, body });
  return body;
}
async function post(path, payload) {
  const r = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Pgbroker-Token": session.token },
    body: JSON.stringify(payload),
  });
  const body = await r.json().catch(() => ({ error: "not JSON (HTTP " + r.status + ")" }));
  if (!r.ok) throw Object.assign(new Error(body.error || ("HTTP " + r.status)), { status: r.status, body });
  return body;
}
const q = (name) => encodeURIComponent(name);
const mayAct = (allowed) => allowed && session && !session.read_only;

function status(text, isError) {
  const s = document.getElementById("status");
  s.textContent = text;
  s.style.color = isError ? "#ff8a80" : "";
}
function say(container, text, isError) {
  container.replaceChildren(el("div", { class: "note" + (isError ? " error" : ""), role: "status" }, text));
}

/* ---- history of samples, for rates and charts ---- */
/* samples {t, v: {name: value}}, at least a second apart (a closer one replaces the last) */
function remember(key, t, values) {
  const h = (view.history[key] = view.history[key] || []);
  if (h.length && t - h[h.length - 1].t < 1) h.pop();
  h.push({ t, v: values });
  while (h.length && h[0].t < t - HISTORY_S) h.shift();
  return h;
}
function perSecond(h, field) {
  if (h.length < 2) return null;
  const a = h[h.length - 2], b = h[h.length - 1];
  if (a.v[field] === null || b.v[field] === null || b.t <= a.t) return null;
  return Math.max(b.v[field] - a.v[field], 0) / (b.t - a.t);
}

function chart(container, key, title, series, width) {
  if (!window.uPlot) return null;
  const opts = {
    title, width: width || 640, height: 220,
    /* at least the last minute, so that the first samples do not stretch over years */
    scales: { x: { time: true, range: (u, min, max) => [Math.min(min, max - 60), max] } },
    series: [{}, ...series.map((s, i) => ({ label: s, stroke: ["#3558c8", "#2e7d32", "#c62828", "#b26a00", "#6a1b9a", "#00838f"][i % 6], width: 2 }))],
    axes: [{}, { size: 60 }],
  };
  const u = new uPlot(opts, [[], ...series.map(() => [])], container);
  view.charts[key] = u;
  return u;
}

/* ---- routing ---- */
function route() {
  const h = location.hash.replace(/^#\/?/, "");
  const [kind, ...rest] = h.split("/");
  let name = null;
  try {
    name = rest.length ? decodeURIComponent(rest.join("/")) : null;
  } catch (e) {
    return { kind: "overview" };	/* a malformed hash */
  }
  if (kind === "queue" && name !== null) return { kind: "queue", name };
  if (kind === "topic" && name !== null) return { kind: "topic", name };
  return { kind: "overview" };
}

async function show() {
  if (timer) clearTimeout(timer);
  for (const c of Object.values(view ? view.charts : {})) c.destroy();
  const r = route();
  view = { route: r, charts: {}, history: {} };
  const main = document.getElementById("main");
  main.replaceChildren();
  document.title = r.kind === "overview" ? "pgbroker console" : r.name + " – pgbroker console";
  await refresh();
}

/*
 * One refresh at a time: a call while one runs (an action, a new page)
 * asks for another as soon as it ends, so there is only ever one chain.
 */
let refreshing = false;
let again = false;

async function refresh() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  const mine = view;
  try {
    if (mine.route.kind === "overview") await drawOverview(mine);
    else if (mine.route.kind === "queue") await drawQueue(mine);
    else await drawTopic(mine);
    status("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    status(e.message, true);
    if (mine === view && !document.getElementById("main").firstChild)
      say(document.getElementById("main"), e.message, true);
  }
  refreshing = false;
  if (timer) clearTimeout(timer);
  timer = null;
  if (again) {
    again = false;
    timer = setTimeout(refresh, 0);
  } else if (mine === view) {
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

/* ---- overview ---- */
function queueTrouble(x) {
  if (x.oldest_ready_age_seconds !== null && x.oldest_ready_age_seconds > 300) return "bad";
  if ((x.oldest_ready_age_seconds !== null && x.oldest_ready_age_seconds > 30) || x.dead > 0) return "warn";
  return null;
}

async function drawOverview(mine) {
  const d = await get("/api/v1/overview");
  if (mine !== view) return;
  const main = document.getElementById("main");
  const rows = d.queues.map((x) => {
    const h = remember("q:" + x.queue, d.at, { sent: x.sent_total, acked: x.acked_total });
    return el("tr", { class: queueTrouble(x), "data-queue": x.queue },
      el("td", { class: "name" }, el("a", { href: "#/queue/" + q(x.queue) }, x.queue)),
      el("td", { "data-field": "messages" }, num(x.messages)),
      el("td", { "data-field": "ready" }, num(x.ready)),
      el("td", { "data-field": "delayed" }, num(x.delayed)),
      el("td", { "data-field": "leased" }, num(x.leased)),
      el("td", { "data-field": "dead" }, num(x.dead)),
      el("td", { "data-field": "oldest" }, secs(x.oldest_ready_age_seconds)),
      el("td", { "data-field": "in" }, rate(perSecond(h, "sent"))),
      el("td", { "data-field": "out" }, rate(perSecond(h, "acked"))));
  });
  const topics = d.topics.map((t) => {
    const h = remember("t:" + t.topic, d.at, { published: t.published_total });
    return el("tr", { class: (t.max_group_lag || 0) > 1000 ? "warn" : null, "data-topic": t.topic },
      el("td", { class: "name" }, el("a", { href: "#/topic/" + q(t.topic) }, t.topic)),
      el("td", { "data-field": "partitions" }, num(t.partitions)),
      el("td", { "data-field": "records" }, num(t.records)),
      el("td", { "data-field": "bytes" }, bytes(t.bytes)),
      el("td", { "data-field": "groups" }, num(t.groups)),
      el("td", { "data-field": "max_group_lag" }, num(t.max_group_lag)),
      el("td", { "data-field": "in" }, rate(perSecond(h, "published"))));
  });
  const subs = d.subscriptions.map((s) =>
    el("tr", { class: s.state === "failing" ? "bad" : (s.state === "stopped" ? "warn" : null), "data-subscription": s.name },
      el("td", { class: "name" }, s.name),
      el("td", { class: "text" }, s.source_kind + " ", el("a", { href: "#/" + s.source_kind + "/" + q(s.source) }, s.source),
        s.consumer_group ? " (group " + s.consumer_group + ")" : ""),
      el("td", { "data-field": "state" }, s.state),
      el("td", {}, num(s.workers)), el("td", {}, num(s.processed)), el("td", {}, num(s.failed)),
      el("td", {}, num(s.backlog)), el("td", { class: "text" }, s.last_error || "")));
  main.replaceChildren(
    el("h1", {}, "Overview"),
    el("h2", {}, "Queues"),
    d.queues.length ? el("table", { id: "queues" },
      el("tr", {}, el("th", { class: "name" }, "queue"), el("th", {}, "messages"), el("th", {}, "ready"),
        el("th", {}, "delayed"), el("th", {}, "leased"), el("th", {}, "dead"), el("th", {}, "oldest ready"),
        el("th", {}, "in /s"), el("th", {}, "out /s")), rows) : el("p", { class: "muted" }, "No queue this role may see."),
    el("h2", {}, "Topics"),
    d.topics.length ? el("table", { id: "topics" },
      el("tr", {}, el("th", { class: "name" }, "topic"), el("th", {}, "partitions"), el("th", {}, "records"),
        el("th", {}, "size"), el("th", {}, "groups"), el("th", {}, "largest lag"), el("th", {}, "in /s")), topics)
      : el("p", { class: "muted" }, "No topic this role may see."),
    ...(d.subscriptions.length ? [el("h2", {}, "Subscriptions"), el("table", { id: "subscriptions" },
      el("tr", {}, el("th", { class: "name" }, "subscription"), el("th", { class: "name" }, "source"), el("th", {}, "state"),
        el("th", {}, "workers"), el("th", {}, "handled"), el("th", {}, "failed"), el("th", {}, "backlog"),
        el("th", { class: "name" }, "last error")), subs)] : []));
}

/* ---- a queue ---- */
async function drawQueue(mine) {
  const name = mine.route.name;
  const d = await get("/api/v1/queue?name=" + q(name));
  d.dead_letters = d.may_browse ? (await get("/api/v1/dead-letters?name=" + q(name))).dead_letters : null;
  if (mine !== view) return;
  const x = d.queue;
  const h = remember("q", d.at, { messages: x.messages, sent: x.sent_total, acked: x.acked_total, ready: x.ready });
  const main = document.getElementById("main");
  if (!mine.built) {
    mine.built = true;
    mine.parts = {
      states: el("div"), chart: el("div", { class: "chart", id: "depth-chart" }),
      rates: el("div", { class: "chart", id: "rate-chart" }), actions: el("div", { class: "actions" }),
      message: el("div"), dead: el("div", { id: "dead-letters" }), subs: el("div"),
    };
    main.replaceChildren(el("h1", { id: "title" }, "Queue ", el("span", { class: "qname" }, name)),
      mine.parts.states, el("h2", {}, "Depth and throughput"), mine.parts.chart, mine.parts.rates,
      el("h2", {}, "Dead letters"), mine.parts.actions, mine.parts.message, mine.parts.dead, mine.parts.subs);
    chart(mine.parts.chart, "depth", "messages", ["messages", "ready"]);
    chart(mine.parts.rates, "rates", "per second", ["in", "out"]);
  }
  const p = mine.parts;
  p.states.replaceChildren(el("table", { id: "states" },
    el("tr", {}, ["messages", "ready", "delayed", "leased", "waiting", "dead", "oldest ready", "size", "sent", "acked", "nacked", "dead-lettered"].map((t) => el("th", {}, t))),
    el("tr", { class: queueTrouble(x), "data-queue": x.queue },
      el("td", { "data-field": "messages" }, num(x.messages)), el("td", { "data-field": "ready" }, num(x.ready)),
      el("td", { "data-field": "delayed" }, num(x.delayed)), el("td", { "data-field": "leased" }, num(x.leased)),
      el("td", { "data-field": "waiting" }, num(x.waiting)), el("td", { "data-field": "dead" }, num(x.dead)),
      el("td", {}, secs(x.oldest_ready_age_seconds)), el("td", {}, bytes(x.bytes)),
      el("td", {}, num(x.sent_total)), el("td", {}, num(x.acked_total)), el("td", {}, num(x.nacked_total)),
      el("td", {}, num(x.dead_lettered_total)))),
    el("p", { class: "muted" }, (x.exact ? "Counted exactly" : "States estimated from a sample of the table") +
      "; max attempts " + x.max_attempts + ", lease " + x.lease + (x.ttl ? ", time to live " + x.ttl : "") + "."));
  const t = h.map((s) => s.t);
  if (mine.charts.depth) mine.charts.depth.setData([t, h.map((s) => s.v.messages), h.map((s) => s.v.ready)]);
  if (mine.charts.rates) {
    const rin = h.map((s, i) => i ? perSecond(h.slice(i - 1, i + 1), "sent") : null);
    const rout = h.map((s, i) => i ? perSecond(h.slice(i - 1, i + 1), "acked") : null);
    mine.charts.rates.setData([t, rin, rout]);
  }
  const manage = mayAct(d.may_manage);
  const dl = d.dead_letters;
  p.actions.replaceChildren(
    manage && dl && dl.length ? el("button", { id: "redrive-all", onclick: () => act(mine, "Send every dead letter of " + name + " back into the queue?",
      "/api/v1/queue/redrive", { queue: name, ids: null }, (r) => r.redriven + " dead letter(s) sent back") }, "Redrive all") : null,
    manage && dl && dl.length ? el("button", { id: "purge", class: "danger", onclick: () => act(mine, "Delete every dead letter of " + name + "? This cannot be undone.",
      "/api/v1/queue/purge-dead-letters", { queue: name, ids: null }, (r) => r.purged + " dead letter(s) deleted") }, "Purge dead letters") : null);
  if (dl === null)
    p.dead.replaceChildren(el("p", { class: "muted" }, "Reading the dead letters needs the browse privilege on this queue."));
  else if (!dl.length)
    p.dead.replaceChildren(el("p", { class: "muted", id: "no-dead-letters" }, "No dead letters."));
  else
    p.dead.replaceChildren(el("table", {},
      el("tr", {}, el("th", {}, "id"), el("th", {}, "attempts"), el("th", { class: "name" }, "reason"), el("th", {}, "dead at"),
        el("th", { class: "name" }, "last error and history"), el("th", { class: "name" }, "payload"), manage ? el("th", {}, "") : null),
      dl.map((m) => el("tr", { "data-dead-letter": m.id },
        el("td", {}, String(m.id)), el("td", {}, num(m.attempts)), el("td", { class: "text" }, m.reason),
        el("td", {}, new Date(m.dead_at).toLocaleString()),
        el("td", { class: "text" }, m.last_error || "",
          m.history && m.history.length ? el("details", {}, el("summary", {}, m.history.length + " attempt(s)"),
            el("pre", {}, m.history.map((a) => "attempt " + a.attempt + " at " + a.at + ": " + a.error).join("\n"))) : null),
        el("td", { class: "text" }, el("pre", {}, JSON.stringify(m.payload !== undefined ? m.payload : null))),
        manage ? el("td", {}, el("button", { "data-redrive": m.id, onclick: () => act(mine, "Send dead letter " + m.id + " back into the queue?",
          "/api/v1/queue/redrive", { queue: name, ids: [m.id] }, (r) => r.redriven + " dead letter sent back") }, "Redrive")) : null))));
  p.subs.replaceChildren(...(d.subscriptions.length ? [el("h2", {}, "Subscriptions"), subscriptionsTable(mine, d.subscriptions)] : []));
}

function subscriptionsTable(mine, subs) {
  return el("table", {},
    el("tr", {}, el("th", { class: "name" }, "subscription"), el("th", {}, "state"), el("th", {}, "workers"), el("th", {}, "handled"),
      el("th", {}, "failed"), el("th", {}, "backlog"), el("th", { class: "name" }, "last error"), el("th", {}, "")),
    subs.map((s) => el("tr", { class: s.state === "failing" ? "bad" : null, "data-subscription": s.name },
      el("td", { class: "name" }, s.name), el("td", {}, s.state), el("td", {}, num(s.workers)),
      el("td", {}, num(s.processed)), el("td", {}, num(s.failed)), el("td", {}, num(s.backlog)),
      el("td", { class: "text" }, s.last_error || ""),
      el("td", {}, mayAct(s.may_alter) ? el("button", {
        "data-subscription-action": s.enabled ? "pause" : "resume",
        onclick: () => act(mine, (s.enabled ? "Pause" : "Resume") + " subscription " + s.name + "?",
          "/api/v1/subscription/" + (s.enabled ? "pause" : "resume"), { name: s.name }, () => (s.enabled ? "paused " : "resumed ") + s.name),
      }, s.enabled ? "Pause" : "Resume") : null))));
}

async function act(mine, question, path, payload, done) {
  if (!confirm(question)) return;
  const box = mine.parts.message;
  try {
    const r = await post(path, payload);
    say(box, done(r), false);
  } catch (e) {
    say(box, e.message + (e.body && e.body.sqlstate ? " (" + e.body.sqlstate + ")" : ""), true);
  }
  if (timer) clearTimeout(timer);
  await refresh();
}

/* ---- a topic ---- */
async function drawTopic(mine) {
  const name = mine.route.name;
  const d = await get("/api/v1/topic?name=" + q(name));
  if (mine !== view) return;
  const t = d.topic;
  const main = document.getElementById("main");
  const groups = [...new Set(d.groups.map((g) => g.consumer_group))];
  const lagOf = Object.fromEntries(groups.map((g) => [g, d.groups.filter((x) => x.consumer_group === g).reduce((a, x) => a + Number(x.lag || 0), 0)]));
  const h = remember("lag", d.at, lagOf);
  if (!mine.built || mine.groupKey !== groups.join("\u0000")) {
    if (mine.charts.lag) { mine.charts.lag.destroy(); delete mine.charts.lag; }
    mine.built = true;
    mine.groupKey = groups.join("\u0000");
    mine.parts = { head: el("div"), partitions: el("div"), lag: el("div", { class: "chart", id: "lag-chart" }),
      groups: el("div"), reset: el("div"), message: el("div"), result: el("div", { id: "reset-result" }), subs: el("div") };
    main.replaceChildren(el("h1", {}, "Topic ", el("span", { class: "tname" }, name)), mine.parts.head,
      el("h2", {}, "Partitions"), mine.parts.partitions, el("h2", {}, "Consumer groups"), mine.parts.lag,
      mine.parts.groups, mine.parts.reset, mine.parts.message, mine.parts.result, mine.parts.subs);
    if (groups.length) chart(mine.parts.lag, "lag", "lag (records)", groups);
    if (mayAct(d.may_manage) && groups.length) mine.parts.reset.replaceChildren(resetForm(mine, name, groups, t.partitions));
  }
  const p = mine.parts;
  p.head.replaceChildren(el("p", {}, num(t.partitions) + " partitions, " + num(t.records) + " records, " + bytes(t.bytes) +
    " in " + num(t.segments) + " segments; retention " + (t.retention || "none") +
    (t.retention_bytes ? " or " + bytes(t.retention_bytes) : "") + (t.compacted ? "; compacted" : "") + "."));
  p.partitions.replaceChildren(el("table", { id: "partitions" },
    el("tr", {}, el("th", {}, "partition"), el("th", {}, "earliest offset"), el("th", {}, "end offset"), el("th", {}, "records")),
    d.partitions.map((x) => el("tr", { "data-partition": x.partition },
      el("td", {}, String(x.partition)), el("td", { "data-field": "earliest" }, num(x.earliest_offset)),
      el("td", { "data-field": "end" }, num(x.end_offset)), el("td", { "data-field": "records" }, num(x.records))))));
  if (mine.charts.lag) mine.charts.lag.setData([h.map((s) => s.t), ...groups.map((g) => h.map((s) => s.v[g] === undefined ? null : s.v[g]))]);
  p.groups.replaceChildren(d.groups.length ? el("table", { id: "groups" },
    el("tr", {}, el("th", { class: "name" }, "group"), el("th", {}, "partition"), el("th", {}, "committed"), el("th", {}, "end"),
      el("th", {}, "lag"), el("th", {}, "last commit"), el("th", { class: "name" }, "lease holder")),
    d.groups.map((g) => el("tr", { class: g.lag > 1000 ? "warn" : null, "data-group": g.consumer_group, "data-partition": g.partition },
      el("td", { class: "name" }, g.consumer_group), el("td", {}, String(g.partition)),
      el("td", { "data-field": "committed" }, num(g.committed_offset)), el("td", {}, num(g.end_offset)),
      el("td", { "data-field": "lag" }, num(g.lag)),
      el("td", {}, g.last_commit_age_seconds === null ? "–" : secs(g.last_commit_age_seconds) + " ago"),
      el("td", { class: "text" }, g.lease_holder || "")))) : el("p", { class: "muted" }, "No consumer group."));
  p.subs.replaceChildren(...(d.subscriptions.length ? [el("h2", {}, "Subscriptions"), subscriptionsTable(mine, d.subscriptions)] : []));
}

function resetForm(mine, topic, groups, partitions) {
  const group = el("select", { id: "reset-group" }, groups.map((g) => el("option", { value: g }, g)));
  const to = el("input", { id: "reset-to", value: "latest", size: 24, title: "earliest, latest, an offset or a time" });
  const part = el("select", { id: "reset-partition" }, el("option", { value: "" }, "every partition"),
    Array.from({ length: partitions }, (_, i) => el("option", { value: String(i) }, "partition " + i)));
  const run = async (dry) => {
    const payload = { topic, group: group.value, to: to.value, partition: part.value === "" ? null : Number(part.value), dry_run: dry };
    if (!dry && !confirm("Move consumer group " + group.value + " of " + topic + " to " + to.value + "?")) return;
    try {
      const r = await post("/api/v1/group/reset", payload);
      mine.parts.result.replaceChildren(el("table", {},
        el("tr", {}, el("th", {}, "partition"), el("th", {}, "committed"), el("th", {}, dry ? "would move to" : "moved to")),
        r.partitions.map((x) => el("tr", {}, el("td", {}, String(x.partition)), el("td", {}, x.old_offset === null ? "(new group)" : num(x.old_offset)),
          el("td", {}, num(x.new_offset))))));
      say(mine.parts.message, (dry ? "Dry run: nothing moved." : "Consumer group " + group.value + " moved."), false);
    } catch (e) {
      say(mine.parts.message, e.message + (e.body && e.body.sqlstate ? " (" + e.body.sqlstate + ")" : ""), true);
    }
  };
  return el("form", { class: "reset", onsubmit: (ev) => ev.preventDefault() },
    "Reset ", group, " to ", to, part,
    el("button", { type: "button", id: "reset-dry-run", onclick: () => run(true) }, "Dry run"),
    el("button", { type: "button", id: "reset-apply", class: "danger", onclick: () => run(false) }, "Reset"));
}

/* ---- start ---- */
async function start() {
  try {
    session = await get("/api/v1/session");
  } catch (e) {
    say(document.getElementById("main"), "Cannot reach the console's API: " + e.message, true);
    return;
  }
  document.getElementById("who").textContent = session.role + " @ " + session.database + " · pgbroker " + (session.version || "");
  document.getElementById("mode").textContent = session.read_only ? "read-only" : "";
  window.addEventListener("hashchange", show);
  await show();
}
start();
