// What every example server's page shares (served by ServerUi from Raft.Server): element lookup, table rows, JSON fetches.
"use strict";

const $ = (id) => document.getElementById(id);

// A table row of text cells (never HTML: names and bodies come from users).
function row(cells, className) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    td.textContent = c;
    tr.appendChild(td);
  }
  if (className) tr.className = className;
  return tr;
}

// GET a JSON document from this node; throws with the path and status when it fails or takes over timeoutMs.
async function json(path, timeoutMs = 5000) {
  const r = await fetch(path, { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}
