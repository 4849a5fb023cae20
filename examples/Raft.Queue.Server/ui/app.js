// The queue node's page (kit.js and chart.js come first): polls /cluster/status (every member's /raft/status, through
// this node) and /queues, publishes in batches, consumes through /queues/{name}/stream, charts each queue group's log,
// and, when this node has them, drives its chaos /admin endpoints.
"use strict";

const REFRESH_MS = 1000;
const CHART_SPAN_MS = 120000;
const PUBLISH_BATCH = 500;
const RATE_WINDOW_MS = 5000;
const SNAPSHOT_SHOWN_MS = 60000;
const history = new Map(); // group id -> { first, last, commit, held: [[time, value]] }
const lastSeen = new Map(); // "node/group" -> that copy's last index at the previous refresh
const installed = new Map(); // node id -> { name, at }: the last snapshot seen installed on it
let consumer = null;

// The group's document from the node that leads it, else from the first node that has it.
function groupView(members, groupId) {
  const copies = members.flatMap((m) => (m.status ? m.status.groups.filter((g) => g.groupId === groupId).map((g) => ({ node: m.id, g })) : []));
  return copies.find((c) => c.g.role === "Leader") || copies[0];
}

function nodeState(m) {
  if (!m.status) return `unreachable (${m.error})`;
  if (m.status.paused) return "paused";
  return m.status.running ? "up" : "not running";
}

function remember(groupId, g) {
  const now = Date.now();
  const h = history.get(groupId) || { first: [], last: [], commit: [], held: [] };
  h.first.push([now, g.firstIndex]);
  h.last.push([now, g.lastIndex]);
  h.commit.push([now, g.commitIndex]);
  h.held.push([now, g.lastIndex - g.firstIndex + 1]);
  for (const s of Object.values(h)) while (s.length && s[0][0] < now - CHART_SPAN_MS) s.shift();
  history.set(groupId, h);
}

function drawCharts(queues) {
  const charts = $("charts");
  for (const q of queues) {
    const h = history.get(q.group);
    if (!h) continue;
    let canvas = charts.querySelector(`canvas[data-group="${q.group}"]`);
    if (!canvas) {
      const title = document.createElement("h3");
      title.textContent = `${q.name} (group ${q.group})`;
      canvas = document.createElement("canvas");
      canvas.dataset.group = q.group;
      canvas.width = 560;
      canvas.height = 180;
      charts.append(title, canvas);
    }
    drawChart(canvas, [
      { series: [{ name: "first", color: "#36c", points: h.first }, { name: "last", color: "#888", points: h.last }, { name: "commit", color: "#070", points: h.commit }] },
      { series: [{ name: "held", color: "#c60", points: h.held }] },
    ], CHART_SPAN_MS);
  }
}

// A copy whose first index is now past the last index it had at the previous refresh got its log from a snapshot
// (compaction here never drops entries it has not applied): remembered for a minute, as the transfer itself is quick.
function noteInstalls(members, names) {
  const now = Date.now();
  for (const m of members) for (const g of m.status?.groups || []) {
    const key = `${m.id}/${g.groupId}`;
    if (g.groupId !== 0 && lastSeen.has(key) && g.firstIndex > lastSeen.get(key) + 1)
      installed.set(m.id, { name: names.get(g.groupId) || `group ${g.groupId}`, at: now });
    lastSeen.set(key, g.lastIndex);
  }
  for (const [id, i] of installed) if (i.at < now - SNAPSHOT_SHOWN_MS) installed.delete(id);
}

function catchingUp(id, sending) {
  const parts = sending ? [`receiving ${sending.join(", ")}`] : [];
  const i = installed.get(id);
  if (i) parts.push(`installed a snapshot of ${i.name} at ${new Date(i.at).toLocaleTimeString()}`);
  return parts.join("; ");
}

async function refresh() {
  try {
    const [members, queues] = await Promise.all([json("/cluster/status"), json("/queues")]);
    const names = new Map(queues.map((q) => [q.group, q.name]));
    // Which member each leader is sending a snapshot to, by member: the queue names.
    const snapshotting = new Map();
    const sends = new Map(); // "group/node" -> the leader's replication mode and lag
    for (const m of members) for (const g of m.status?.groups || []) if (g.role === "Leader") {
      for (const r of g.replicas) {
        sends.set(`${g.groupId}/${r.nodeId}`, r);
        if (r.mode === "Snapshot") snapshotting.set(r.nodeId, [...(snapshotting.get(r.nodeId) || []), names.get(g.groupId) || `group ${g.groupId}`]);
      }
    }
    noteInstalls(members, names);
    $("nodes").tBodies[0].replaceChildren(...members.map((m) => {
      const groups = (m.status?.groups || []).filter((g) => g.groupId !== 0);
      const tr = row(["", "", nodeState(m), groups.filter((g) => g.role === "Leader").length,
        groups.reduce((t, g) => Math.max(t, g.term), 0), catchingUp(m.id, snapshotting.get(m.id))], m.status ? "" : "down");
      tr.dataset.node = m.id;
      tr.cells[0].textContent = m.id;
      const link = document.createElement("a");
      link.href = m.apiUrl || "";
      link.textContent = m.apiUrl || "";
      tr.cells[1].appendChild(link);
      if (snapshotting.has(m.id) || installed.has(m.id)) tr.classList.add("snapshot");
      return tr;
    }));
    $("queues").tBodies[0].replaceChildren(...queues.map((q) => {
      const v = groupView(members, q.group);
      const g = v?.g;
      if (g) remember(q.group, g);
      const tr = row([q.name, q.group, q.depth ?? "", q.inFlight ?? "", q.acked ?? "", g?.leader || "none", g?.term ?? "",
        g?.firstIndex ?? "", g?.lastIndex ?? "", g?.commitIndex ?? ""]);
      tr.dataset.queue = q.name;
      return tr;
    }));
    $("replicas").tBodies[0].replaceChildren(...queues.flatMap((q) => members.flatMap((m) =>
      (m.status?.groups || []).filter((g) => g.groupId === q.group).map((g) => {
        const r = sends.get(`${g.groupId}/${m.id}`);
        const tr = row([q.name, m.id, g.role, g.term, g.firstIndex, g.lastIndex, g.commitIndex, g.appliedIndex, g.snapshotIndex,
          r ? `${r.mode}, ${r.lag} behind` : ""], g.role);
        if (r?.mode === "Snapshot") tr.classList.add("snapshot");
        return tr;
      }))));
    for (const id of ["publish-queue", "consume-queue"]) if (!$(id).value && queues.length) $(id).value = queues[0].name;
    $("queue-names").replaceChildren(...queues.map((q) => Object.assign(document.createElement("option"), { value: q.name })));
    drawCharts(queues);
    $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("refreshed").textContent = `refresh failed: ${e.message}`;
  }
}

async function publish(event) {
  event.preventDefault();
  const name = $("publish-queue").value, count = Number($("publish-count").value);
  const started = performance.now();
  let sent = 0;
  try {
    while (sent < count) {
      const n = Math.min(PUBLISH_BATCH, count - sent);
      const batch = Array.from({ length: n }, (_, i) => `message ${sent + i + 1} of ${count} from the page`);
      const r = await fetch(`/queues/${encodeURIComponent(name)}/messages`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(batch) });
      if (r.status !== 201) throw new Error(`${r.status} ${(await r.json()).detail}`);
      sent += n;
      $("publish-result").textContent = `${sent} of ${count}`;
    }
    $("publish-result").className = "ok";
    $("publish-result").textContent = `published ${count} in ${Math.round(performance.now() - started)} ms`;
  } catch (e) {
    $("publish-result").className = "error";
    $("publish-result").textContent = `published ${sent}, then: ${e.message}`;
  }
  refresh();
}

// The consume toggle: one stream, each delivery acked (which returns its credit), the rate over the last few seconds.
function toggleConsume(event) {
  event.preventDefault();
  if (consumer) { stopConsuming("stopped"); return; }
  const name = $("consume-queue").value;
  const source = new EventSource(`/queues/${encodeURIComponent(name)}/stream?credit=${Number($("consume-credit").value)}`);
  consumer = { source, received: 0, acked: 0, times: [] };
  const c = consumer;
  $("consume").textContent = "stop consuming";
  source.onopen = () => { $("consume-state").textContent = "consuming"; };
  source.onerror = () => { $("consume-state").textContent = "reconnecting"; };
  source.addEventListener("end", (m) => stopConsuming(`ended: ${JSON.parse(m.data).reason}`));
  source.addEventListener("problem", (m) => { $("consume-state").textContent = JSON.parse(m.data).detail; });
  source.addEventListener("message", async (m) => {
    const d = JSON.parse(m.data);
    c.received++;
    c.times.push(Date.now());
    $("consume-received").textContent = c.received;
    const r = await fetch(`/queues/${encodeURIComponent(name)}/messages/${d.receipt}`, { method: "DELETE" });
    if (r.ok) $("consume-acked").textContent = ++c.acked;
  });
}

function stopConsuming(state) {
  consumer?.source.close();
  consumer = null;
  $("consume").textContent = "start consuming";
  $("consume-state").textContent = state;
}

function showRate() {
  const now = Date.now();
  if (!consumer) { $("consume-rate").textContent = 0; return; }
  const t = consumer.times;
  while (t.length && t[0] < now - RATE_WINDOW_MS) t.shift();
  $("consume-rate").textContent = Math.round(t.length / (RATE_WINDOW_MS / 1000));
}

async function admin(action) {
  const peers = $("chaos-peers").value.trim();
  const query = action === "partition" ? `?peers=${encodeURIComponent(peers)}` : "";
  try {
    const r = await fetch(`/admin/${action}${query}`, { method: "POST", headers: { Authorization: `Bearer ${$("chaos-token").value}` } });
    $("chaos-result").className = r.ok ? "ok" : "error";
    $("chaos-result").textContent = `${action}: ${r.status}\n${await r.text()}`;
  } catch (e) {
    $("chaos-result").className = "error";
    $("chaos-result").textContent = `${action}: ${e.message}`;
  }
}

async function start() {
  try {
    const config = await json("/ui/config");
    $("node-title").textContent = `node ${config.nodeId}`;
    $("chaos-section").hidden = !config.chaos;
  } catch (e) {
    $("node-title").textContent = `(config: ${e.message})`;
  }
  for (const b of document.querySelectorAll("[data-admin]")) b.addEventListener("click", () => admin(b.dataset.admin));
  $("publish-form").addEventListener("submit", publish);
  $("consume-form").addEventListener("submit", toggleConsume);
  // Chained, not an interval: a slow member (2 s at most) never piles refreshes up.
  const loop = async () => { await refresh(); setTimeout(loop, REFRESH_MS); };
  loop();
  setInterval(showRate, 500);
}

start();
