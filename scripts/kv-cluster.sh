#!/usr/bin/env bash
# Starts, stops or shows N (default 3) key-value server processes on 127.0.0.1, data in $KV_DATA (default
# /tmp/raft-kv-cluster). Node i listens for HTTP on 127.0.0.1:$((KV_HTTP_BASE + i)) and for Raft on $((KV_RAFT_BASE + i)).
#   scripts/kv-cluster.sh start [N]   builds once, starts the nodes in the background, waits until every node is healthy
#   scripts/kv-cluster.sh status      each node's pid and /health
#   scripts/kv-cluster.sh stop        SIGTERM (leaderships handed off first), then waits for the processes to exit
set -uo pipefail
cd "$(dirname "$0")/.."
data="${KV_DATA:-/tmp/raft-kv-cluster}"
http_base="${KV_HTTP_BASE:-8100}"
raft_base="${KV_RAFT_BASE:-7100}"
command="${1:-status}"
count="${2:-3}"
server="examples/Raft.KeyValue.Server/bin/Release/net10.0/Raft.KeyValue.Server.dll"

members() {
  local args=() i
  for i in $(seq 1 "$1"); do
    args+=("--Kv:Members:$((i - 1)):Id=$i" "--Kv:Members:$((i - 1)):RaftEndpoint=127.0.0.1:$((raft_base + i))"
           "--Kv:Members:$((i - 1)):ApiUrl=http://127.0.0.1:$((http_base + i))")
  done
  printf '%s\n' "${args[@]}"
}

case "$command" in
  start)
    dotnet build examples/Raft.KeyValue.Server -c Release --nologo -v quiet >/dev/null || { echo "build failed"; exit 1; }
    mkdir -p "$data"
    mapfile -t member_args < <(members "$count")
    for i in $(seq 1 "$count"); do
      if [[ -f "$data/node-$i.pid" ]] && kill -0 "$(cat "$data/node-$i.pid")" 2>/dev/null; then echo "node $i already runs"; continue; fi
      nohup dotnet "$server" --Kv:NodeId="$i" --Kv:RaftEndpoint="127.0.0.1:$((raft_base + i))" \
        --Kv:HttpUrl="http://127.0.0.1:$((http_base + i))" --Kv:DataDirectory="$data/node-$i" "${member_args[@]}" \
        >"$data/node-$i.log" 2>&1 &
      echo $! >"$data/node-$i.pid"
    done
    for i in $(seq 1 "$count"); do
      url="http://127.0.0.1:$((http_base + i))"
      for _ in $(seq 1 300); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
      if curl -sf "$url/health" >/dev/null; then echo "node $i: $url"; else echo "node $i at $url is not healthy; see $data/node-$i.log"; fi
    done
    ;;
  stop)
    for pidfile in "$data"/node-*.pid; do
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
    for pidfile in "$data"/node-*.pid; do
      [[ -f "$pidfile" ]] || { echo "no nodes"; break; }
      i="${pidfile##*node-}"; i="${i%.pid}"
      echo "node $i pid $(cat "$pidfile"): $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$((http_base + i))/health")"
    done
    ;;
  *) echo "usage: $0 start|stop|status [N]"; exit 2 ;;
esac
