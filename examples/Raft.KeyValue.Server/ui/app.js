// The kv node's page (kit.js, shared with the other servers, comes first): polls this node's /raft/status, /cluster/members and /kv, drives /kv/{key}, and shows /events.
"use strict";

const MAX_EVENTS = 200;
const MAX_GROUP_ROWS = 300;
let keysByGroup = new Map();

async function refresh() {
  try {
    const [status, members, keys] = await Promise.all([json("/raft/status"), json("/cluster/members"), json("/kv?limit=10000")]);
    keysByGroup = new Map(keys.map((k) => [k.group, k.key]));
    $("node-title").textContent = `node ${status.nodeId}${status.running ? "" : " (not running)"}`;
    const led = new Map();
    for (const g of status.groups) if (g.leader) led.set(g.leader, (led.get(g.leader) || 0) + 1);
    $("nodes").tBodies[0].replaceChildren(...members.map((m) => row([m.id, m.raftEndpoint, m.apiUrl, led.get(m.id) || 0])));
    const filter = $("group-filter").value;
    const groups = status.groups.map((g) => ({ ...g, key: g.groupId === 0 ? "(directory)" : keysByGroup.get(g.groupId) || "" }))
      .filter((g) => !filter || g.key.includes(filter));
    $("groups").tBodies[0].replaceChildren(...groups.slice(0, MAX_GROUP_ROWS).map((g) =>
      row([g.groupId, g.key, g.role, g.leader || "none", g.term, g.commitIndex, g.appliedIndex], g.role)));
    $("groups-more").textContent = groups.length > MAX_GROUP_ROWS ? `${groups.length - MAX_GROUP_ROWS} more not shown` : "";
    $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("refreshed").textContent = `refresh failed: ${e.message}`;
  }
}

async function listKeys(event) {
  event?.preventDefault();
  const prefix = encodeURIComponent($("prefix").value);
  const keys = await json(`/kv?prefix=${prefix}&limit=1000`);
  $("keys").replaceChildren(...keys.map((k) => {
    const li = document.createElement("li");
    li.textContent = k.key;
    li.dataset.key = k.key;
    li.onclick = () => { $("key").value = k.key; send("GET"); };
    return li;
  }));
}

// One request on the key in the form; shows status, version and value (or the problem's detail).
async function send(method) {
  const key = $("key").value;
  if (!key) { show("error", "the key is empty"); return; }
  const headers = {};
  const version = $("if-match").value.trim();
  if (method !== "GET" && version === "0") headers["If-None-Match"] = "*";
  else if (method !== "GET" && version) headers["If-Match"] = `"${version}"`;
  const init = { method, headers, cache: "no-store" };
  if (method === "PUT") init.body = $("value").value;
  const r = await fetch(`/kv/${encodeURIComponent(key)}`, init);
  const text = await r.text();
  const etag = (r.headers.get("ETag") || "").replaceAll('"', "");
  let shown = text;
  if ((r.headers.get("Content-Type") || "").includes("json")) {
    const body = JSON.parse(text);
    shown = body.detail || JSON.stringify(body);
    if (body.version !== undefined) $("if-match").value = body.version;
  }
  if (method === "GET" && r.ok) { $("value").value = text; $("if-match").value = etag; }
  show(r.ok ? "ok" : "error", `${method} ${key}: ${r.status}${etag ? ` version ${etag}` : ""}\n${shown}`);
  if (method !== "GET") listKeys();
}

function show(kind, text) {
  $("result").className = kind;
  $("result").textContent = text;
}

function describe(type, e) {
  const d = e.data || {};
  switch (type) {
    case "role": return `group ${d.group} ${d.key}: ${d.previous} -> ${d.role}, term ${d.term}`;
    case "leader": return `group ${d.group} ${d.key}: leader ${d.previous || "none"} -> ${d.leader}, term ${d.term}`;
    case "commit": return `group ${d.group} ${d.key}: index ${d.index}, version ${d.version} (1 of ${d.sampledOf})`;
    case "dropped": return `${d.count} events dropped (this page read too slowly)`;
    default: return JSON.stringify(d);
  }
}

function listen() {
  const source = new EventSource("/events");
  source.onopen = () => { $("events-state").textContent = "live"; };
  source.onerror = () => { $("events-state").textContent = "reconnecting"; };
  for (const type of ["hello", "role", "leader", "commit", "rebalance", "membership", "group", "dropped"]) {
    source.addEventListener(type, (m) => {
      const e = JSON.parse(m.data);
      const li = document.createElement("li");
      li.dataset.type = type;
      li.textContent = `${new Date(e.at || Date.now()).toLocaleTimeString()} ${type} ${describe(type, e)}`;
      const log = $("events");
      log.prepend(li);
      while (log.children.length > MAX_EVENTS) log.lastChild.remove();
    });
  }
}

$("list-form").addEventListener("submit", listKeys);
$("key-form").addEventListener("submit", (e) => { e.preventDefault(); send("PUT"); });
$("get").addEventListener("click", () => send("GET"));
$("delete").addEventListener("click", () => send("DELETE"));
$("group-filter").addEventListener("input", refresh);
listen();
refresh();
listKeys();
setInterval(refresh, 2000);
