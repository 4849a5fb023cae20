#!/usr/bin/env bash
# Starts, stops or shows N (default 3) key-value server processes on 127.0.0.1, data in $KV_DATA (default
# /tmp/raft-kv-cluster). Node i listens for HTTP on 127.0.0.1:$((KV_HTTP_BASE + i)) and for Raft on $((KV_RAFT_BASE + i)).
#   scripts/kv-cluster.sh start [N]   builds once, starts the nodes in the background, waits until every node is healthy
#   scripts/kv-cluster.sh start-node I  starts node I alone when it is down (after /admin/kill or /admin/reset)
#   scripts/kv-cluster.sh status      each node's pid and /health
#   scripts/kv-cluster.sh stop        SIGTERM (leaderships handed off first), then waits for the processes to exit
# The chaos admin endpoints (/admin/...) are on for this local demo, behind the token $KV_CHAOS_TOKEN (generated and
# printed when unset, kept in $KV_DATA/chaos-token); KV_CHAOS=0 turns them off.
set -uo pipefail
cd "$(dirname "$0")/.."
data="${KV_DATA:-/tmp/raft-kv-cluster}"
http_base="${KV_HTTP_BASE:-8100}"
raft_base="${KV_RAFT_BASE:-7100}"
command="${1:-status}"
count="${2:-3}"
server="examples/Raft.KeyValue.Server/bin/Release/net10.0/Raft.KeyValue.Server.dll"
chaos="${KV_CHAOS:-1}"

members() {
  local args=() i
  for i in $(seq 1 "$1"); do
    args+=("--Kv:Members:$((i - 1)):Id=$i" "--Kv:Members:$((i - 1)):RaftEndpoint=127.0.0.1:$((raft_base + i))"
           "--Kv:Members:$((i - 1)):ApiUrl=http://127.0.0.1:$((http_base + i))")
  done
  printf '%s\n' "${args[@]}"
}

# Whether pid $1 runs (a killed node whose parent is gone may linger as a zombie until reaped: not running).
running() {
  local state
  state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z* ]]
}

# The chaos settings: the token kept beside the data, so a node started later (start-node) takes the same one.
chaos_args() {
  [[ "$chaos" == "0" ]] && return
  local token="${KV_CHAOS_TOKEN:-}"
  if [[ -z "$token" && -f "$data/chaos-token" ]]; then token="$(cat "$data/chaos-token")"; fi
  if [[ -z "$token" ]]; then token="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"; fi
  printf '%s' "$token" >"$data/chaos-token"
  printf '%s\n' "--Kv:Chaos:Enabled=true" "--Kv:Chaos:Token=$token"
}

# Starts node $1 of a cluster of $2 in the background, unless it runs already.
start_node() {
  local i="$1" member_args extra
  if [[ -f "$data/node-$i.pid" ]] && running "$(cat "$data/node-$i.pid")"; then echo "node $i already runs"; return; fi
  mapfile -t member_args < <(members "$2")
  mapfile -t extra < <(chaos_args)
  nohup dotnet "$server" --Kv:NodeId="$i" --Kv:RaftEndpoint="127.0.0.1:$((raft_base + i))" \
    --Kv:HttpUrl="http://127.0.0.1:$((http_base + i))" --Kv:DataDirectory="$data/node-$i" "${member_args[@]}" "${extra[@]}" \
    >>"$data/node-$i.log" 2>&1 &
  echo $! >"$data/node-$i.pid"
}

# Waits until node $1 answers /alive (a node rejoining after a reset is alive before it is ready), then says so.
wait_node() {
  local url="http://127.0.0.1:$((http_base + $1))"
  for _ in $(seq 1 600); do curl -sf "$url/alive" >/dev/null && break; sleep 0.1; done
  if curl -sf "$url/alive" >/dev/null; then echo "node $1: $url"; else echo "node $1 at $url does not answer; see $data/node-$1.log"; fi
}

case "$command" in
  start)
    dotnet build examples/Raft.KeyValue.Server -c Release --nologo -v quiet >/dev/null || { echo "build failed"; exit 1; }
    mkdir -p "$data"
    echo "$count" >"$data/count"
    for i in $(seq 1 "$count"); do start_node "$i" "$count"; done
    for i in $(seq 1 "$count"); do
      url="http://127.0.0.1:$((http_base + i))"
      for _ in $(seq 1 300); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
      if curl -sf "$url/health" >/dev/null; then echo "node $i: $url"; else echo "node $i at $url is not healthy; see $data/node-$i.log"; fi
    done
    if [[ "$chaos" != "0" ]]; then
      echo "chaos endpoints on: curl -H \"Authorization: Bearer $(cat "$data/chaos-token")\" http://127.0.0.1:$((http_base + 1))/admin/state"
    fi
    ;;
  start-node)
    node="${2:-}"
    [[ "$node" =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 start-node I (the node's number)"; exit 2; }
    [[ -f "$data/count" ]] || { echo "no cluster was started in $data (run: $0 start)"; exit 2; }
    total="$(cat "$data/count")"
    (( node <= total )) || { echo "node $node is not one of the $total nodes started in $data"; exit 2; }
    start_node "$node" "$total"
    wait_node "$node"
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
      echo "node $i pid $(cat "$pidfile"): $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((http_base + i))/health")"
    done
    ;;
  *) echo "usage: $0 start [N] | start-node I | stop | status"; exit 2 ;;
esac
