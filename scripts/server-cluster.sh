#!/usr/bin/env bash
# What the example servers' cluster scripts share: starts, stops or shows N (default 3) server processes on 127.0.0.1.
# The caller sets (then sources this file with "$@"):
#   SERVER_PROJECT  the project folder, e.g. examples/Raft.Queue.Server
#   SERVER_SECTION  its configuration section, e.g. Queue
#   SERVER_DATA     the data folder (node-i/, node-i.log, node-i.pid)
#   SERVER_HTTP_BASE, SERVER_RAFT_BASE   node i listens for HTTP on 127.0.0.1:$((SERVER_HTTP_BASE + i)), for Raft on $((SERVER_RAFT_BASE + i))
#   SERVER_ARGS     (an array, optional) more arguments for every node, e.g. (--Queue:Raft:SnapshotEntries=500)
#   <script> start [N]   builds once, starts the nodes in the background, waits until every node is healthy
#   <script> status      each node's pid and /health
#   <script> stop        SIGTERM (leaderships handed off first), then waits for the processes to exit
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
: "${SERVER_PROJECT:?}" "${SERVER_SECTION:?}" "${SERVER_DATA:?}" "${SERVER_HTTP_BASE:?}" "${SERVER_RAFT_BASE:?}"
command="${1:-status}"
count="${2:-3}"
name="$(basename "$SERVER_PROJECT")"
server="$SERVER_PROJECT/bin/Release/net10.0/$name.dll"
s="$SERVER_SECTION"
extra=("${SERVER_ARGS[@]+"${SERVER_ARGS[@]}"}")

members() {
  local args=() i
  for i in $(seq 1 "$1"); do
    args+=("--$s:Members:$((i - 1)):Id=$i" "--$s:Members:$((i - 1)):RaftEndpoint=127.0.0.1:$((SERVER_RAFT_BASE + i))"
           "--$s:Members:$((i - 1)):ApiUrl=http://127.0.0.1:$((SERVER_HTTP_BASE + i))")
  done
  printf '%s\n' "${args[@]}"
}

case "$command" in
  start)
    dotnet build "$SERVER_PROJECT" -c Release --nologo -v quiet >/dev/null || { echo "build failed"; exit 1; }
    mkdir -p "$SERVER_DATA"
    mapfile -t member_args < <(members "$count")
    for i in $(seq 1 "$count"); do
      if [[ -f "$SERVER_DATA/node-$i.pid" ]] && kill -0 "$(cat "$SERVER_DATA/node-$i.pid")" 2>/dev/null; then echo "node $i already runs"; continue; fi
      nohup dotnet "$server" --"$s":NodeId="$i" --"$s":RaftEndpoint="127.0.0.1:$((SERVER_RAFT_BASE + i))" \
        --"$s":HttpUrl="http://127.0.0.1:$((SERVER_HTTP_BASE + i))" --"$s":DataDirectory="$SERVER_DATA/node-$i" "${member_args[@]}" \
        "${extra[@]+"${extra[@]}"}" >"$SERVER_DATA/node-$i.log" 2>&1 &
      echo $! >"$SERVER_DATA/node-$i.pid"
    done
    for i in $(seq 1 "$count"); do
      url="http://127.0.0.1:$((SERVER_HTTP_BASE + i))"
      for _ in $(seq 1 600); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
      if curl -sf "$url/health" >/dev/null; then echo "node $i: $url"; else echo "node $i at $url is not healthy; see $SERVER_DATA/node-$i.log"; fi
    done
    ;;
  stop)
    for pidfile in "$SERVER_DATA"/node-*.pid; do
      [[ -f "$pidfile" ]] || continue
      pid="$(cat "$pidfile")"
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && { echo "pid $pid did not stop; killing it"; kill -KILL "$pid"; }
      rm -f "$pidfile"
    done
    echo "stopped"
    ;;
  status)
    for pidfile in "$SERVER_DATA"/node-*.pid; do
      [[ -f "$pidfile" ]] || { echo "no nodes"; break; }
      i="${pidfile##*node-}"; i="${i%.pid}"
      echo "node $i pid $(cat "$pidfile"): $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((SERVER_HTTP_BASE + i))/health")"
    done
    ;;
  *) echo "usage: $0 start|stop|status [N]"; exit 2 ;;
esac
