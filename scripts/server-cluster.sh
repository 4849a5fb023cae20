#!/usr/bin/env bash
# What the example servers' cluster scripts share: starts, stops or shows N (default 3) server processes on 127.0.0.1.
# The caller sets (then sources this file with "$@"):
#   SERVER_PROJECT  the project folder, e.g. examples/Raft.Queue.Server
#   SERVER_SECTION  its configuration section, e.g. Queue
#   SERVER_DATA     the data folder (node-i/, node-i.log, node-i.pid, count, chaos-token)
#   SERVER_HTTP_BASE, SERVER_RAFT_BASE   node i listens for HTTP on 127.0.0.1:$((SERVER_HTTP_BASE + i)), for Raft on $((SERVER_RAFT_BASE + i))
#   SERVER_ARGS     (an array, optional) more arguments for every node, e.g. (--Queue:Raft:SnapshotEntries=500)
#   SERVER_CHAOS    (optional, default 0) 1 turns the chaos admin endpoints (/admin/...) on
#   SERVER_CHAOS_TOKEN  (optional) the admin token ($s:Chaos:Token), given to every node whether or not chaos is on:
#                   membership changes (POST/DELETE /cluster/members) and the chaos endpoints need it. Generated when
#                   unset, kept in $SERVER_DATA/chaos-token so a node started later takes the same one
#   <script> start [N]      builds once, starts the nodes in the background, waits until every node is healthy
#   <script> start-node I   starts node I alone when it is down (after /admin/kill or /admin/reset)
#   <script> join-node I    starts a new node I (beyond the N started) that joins once added to the members
#                           (POST /cluster/members with the admin token, or /admin/members with chaos on; the
#                           chaos UI's j key starts it and adds it)
#   <script> status         each node's pid and /health
#   <script> stop           SIGTERM (leaderships handed off first), then waits for the processes to exit
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${SERVER_PROJECT:?}" "${SERVER_SECTION:?}" "${SERVER_DATA:?}" "${SERVER_HTTP_BASE:?}" "${SERVER_RAFT_BASE:?}"
command="${1:-status}"
count="${2:-3}"
name="$(basename "$SERVER_PROJECT")"
server="$SERVER_PROJECT/bin/Release/net10.0/$name.dll"
s="$SERVER_SECTION"
data="$SERVER_DATA"
chaos="${SERVER_CHAOS:-0}"
extra=("${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}")

members() {
  local args=() i
  for i in $(seq 1 "$1"); do
    args+=("--$s:Members:$((i - 1)):Id=$i" "--$s:Members:$((i - 1)):RaftEndpoint=127.0.0.1:$((SERVER_RAFT_BASE + i))"
           "--$s:Members:$((i - 1)):ApiUrl=http://127.0.0.1:$((SERVER_HTTP_BASE + i))")
  done
  printf '%s\n' "${args[@]}"
}

# Whether pid $1 runs (a killed node whose parent is gone may linger as a zombie until reaped: not running).
running() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# The admin settings: the token (always: membership changes need it) kept beside the data, so a node started later
# (start-node, join-node) takes the same one; the chaos endpoints only when asked for.
chaos_args() {
  local token="${SERVER_CHAOS_TOKEN:-}"
  if [[ -z "$token" && -f "$data/chaos-token" ]]; then token="$(cat "$data/chaos-token")"; fi
  if [[ -z "$token" ]]; then token="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"; fi
  printf '%s' "$token" >"$data/chaos-token"
  printf '%s\n' "--$s:Chaos:Token=$token"
  [[ "$chaos" == "0" ]] || printf '%s\n' "--$s:Chaos:Enabled=true"
}

# Starts node $1 of a cluster of $2 in the background, unless it runs already.
start_node() {
  local i="$1" member_args chaos_settings
  if [[ -f "$data/node-$i.pid" ]] && running "$(cat "$data/node-$i.pid")"; then echo "node $i already runs"; return; fi
  mapfile -t member_args < <(members "$2")
  mapfile -t chaos_settings < <(chaos_args)
  nohup dotnet "$server" --"$s":NodeId="$i" --"$s":RaftEndpoint="127.0.0.1:$((SERVER_RAFT_BASE + i))" \
    --"$s":HttpUrl="http://127.0.0.1:$((SERVER_HTTP_BASE + i))" --"$s":DataDirectory="$data/node-$i" "${member_args[@]}" \
    "${chaos_settings[@]+"${chaos_settings[@]}"}" "${extra[@]+"${extra[@]}"}" >>"$data/node-$i.log" 2>&1 &
  echo $! >"$data/node-$i.pid"
}

# Waits until node $1 answers $2 (/health; /alive for a node rejoining after a reset, alive before it is ready).
wait_node() {
  local url="http://127.0.0.1:$((SERVER_HTTP_BASE + $1))" probe="$2"
  for _ in $(seq 1 600); do curl -sf "$url$probe" >/dev/null && break; sleep 0.1; done
  if curl -sf "$url$probe" >/dev/null; then echo "node $1: $url"; else echo "node $1 at $url does not answer $probe; see $data/node-$1.log"; fi
}

case "$command" in
  start)
    dotnet build "$SERVER_PROJECT" -c Release --nologo -v quiet >/dev/null || { echo "build failed"; exit 1; }
    mkdir -p "$data"
    echo "$count" >"$data/count"
    for i in $(seq 1 "$count"); do start_node "$i" "$count"; done
    for i in $(seq 1 "$count"); do wait_node "$i" /health; done
    auth="-H \"Authorization: Bearer $(cat "$data/chaos-token")\""
    echo "membership changes: curl $auth -X DELETE http://127.0.0.1:$((SERVER_HTTP_BASE + 1))/cluster/members/ID (POST to add)"
    if [[ "$chaos" != "0" ]]; then
      echo "chaos endpoints on: curl $auth http://127.0.0.1:$((SERVER_HTTP_BASE + 1))/admin/state"
    fi
    ;;
  start-node)
    node="${2:-}"
    [[ "$node" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 start-node I (the node's number)"; exit 2; }
    [[ -f "$data/count" ]] || { echo "no cluster was started in $data (run: $0 start)"; exit 2; }
    total="$(cat "$data/count")"
    (( node <= total )) || { echo "node $node is not one of the $total nodes started in $data"; exit 2; }
    start_node "$node" "$total"
    wait_node "$node" /alive
    ;;
  join-node)
    node="${2:-}"
    [[ "$node" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 join-node I (the new node's number)"; exit 2; }
    [[ -f "$data/count" ]] || { echo "no cluster was started in $data (run: $0 start)"; exit 2; }
    total="$(cat "$data/count")"
    (( node > total )) || { echo "node $node is one of the $total nodes started in $data (start it with start-node)"; exit 2; }
    # Told the first members only: not listed itself, it bootstraps nothing and waits to be added.
    start_node "$node" "$total"
    wait_node "$node" /alive
    ;;
  stop)
    for pidfile in "$data"/node-*.pid; do
      [[ -f "$pidfile" ]] || continue
      pid="$(cat "$pidfile")"
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 200); do running "$pid" || break; sleep 0.1; done
      running "$pid" && { echo "pid $pid did not stop; killing it"; kill -KILL "$pid"; }
      rm -f "$pidfile"
    done
    echo "stopped"
    ;;
  status)
    for pidfile in "$data"/node-*.pid; do
      [[ -f "$pidfile" ]] || { echo "no nodes"; break; }
      i="${pidfile##*node-}"; i="${i%.pid}"
      echo "node $i pid $(cat "$pidfile"): $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((SERVER_HTTP_BASE + i))/health")"
    done
    ;;
  *) echo "usage: $0 start [N] | start-node I | join-node I | stop | status"; exit 2 ;;
esac
