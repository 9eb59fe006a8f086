#!/usr/bin/env bash
# The benchmark runner: builds release binaries, starts the shared upstream, then for each
# server (the hand-written async-graphql baseline, Tributary with cross-request sharing on and
# off) and each scenario checks the answers, warms up, loads with wrk and prints one table:
# requests/s, p50, p99, errors (HTTP and GraphQL, from every response body), upstream calls
# per GraphQL request (nginx stub_status), peak RSS, and the ratio to the baseline.
#
#   bench/run.sh                 # all scenarios
#   DURATION=5s bench/run.sh     # shorter runs
#   W1_SUBSCRIBERS="1000" bench/run.sh   # W1 (WebSocket fan-out) sizes; default "1000 10000"
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${SHARED:-$(cd "$root/.." && pwd)/shared}
[[ -d $shared/bench ]] || { echo "bench: the shared fixture is not at $shared/bench (set SHARED)" >&2; exit 1; }
duration=${DURATION:-10s}
port=${BENCH_PORT:-8800}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }

echo "bench: building release binaries" >&2
cargo build --release -q -p tributary -p tributary-bench-baseline -p tributary-bench-w1
bin=$root/target/release

if ! curl -fs -o /dev/null http://127.0.0.1:3000/users/1; then
  bash "$shared/bench/upstream.sh" >/dev/null </dev/null 2>&1 || { echo "bench: upstream did not start" >&2; exit 1; }
fi
trap 'kill "${server_pid:-}" 2>/dev/null || true; bash "$shared/bench/upstream.sh" stop >/dev/null 2>&1 || true' EXIT

lua=$(mktemp --suffix .lua)
cat >"$lua" <<'LUA'
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b = 0
  for _, t in ipairs(threads) do b = b + t:get("bad") end
  local e = summary.errors
  io.write(string.format("RESULT %d %.1f %.2f %.2f %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, b + e.connect + e.read + e.write + e.timeout))
end
LUA

upstream_count() { curl -s http://127.0.0.1:3001/nginx_status | awk 'NR==3 {print $3}'; }

start_server() { # name
  case $1 in
    baseline) "$bin/tributary-bench-baseline" "127.0.0.1:$port" 2>/dev/null & ;;
    tributary) TRIBUTARY_LOG__LEVEL=warn "$bin/tributary" --production --schema bench/schema.graphql --listen "127.0.0.1:$port" 2>/dev/null & ;;
    tributary-nosharing) TRIBUTARY_SERVER__SHARING=false TRIBUTARY_LOG__LEVEL=warn "$bin/tributary" --production --schema bench/schema.graphql --listen "127.0.0.1:$port" 2>/dev/null & ;;
    # S1: the demo storefront (SQLite + the bundled HTTP services), development mode.
    s1-cached) (cd "$s1dir" && TRIBUTARY_LOG__LEVEL=warn exec "$bin/tributary" --schema "$root/schema.graphql" --listen "127.0.0.1:$port" 2>/dev/null) & ;;
    s1-uncached) (cd "$s1dir" && TRIBUTARY_CACHE__ENABLED=false TRIBUTARY_LOG__LEVEL=warn exec "$bin/tributary" --schema "$root/schema.graphql" --listen "127.0.0.1:$port" 2>/dev/null) & ;;
    s1-cached-nosharing) (cd "$s1dir" && TRIBUTARY_SERVER__SHARING=false TRIBUTARY_LOG__LEVEL=warn exec "$bin/tributary" --schema "$root/schema.graphql" --listen "127.0.0.1:$port" 2>/dev/null) & ;;
    s1-uncached-nosharing) (cd "$s1dir" && TRIBUTARY_SERVER__SHARING=false TRIBUTARY_CACHE__ENABLED=false TRIBUTARY_LOG__LEVEL=warn exec "$bin/tributary" --schema "$root/schema.graphql" --listen "127.0.0.1:$port" 2>/dev/null) & ;;
    # W1: the demo storefront again, with room for $w1_connections WebSocket connections.
    w1) (cd "$w1dir" && TRIBUTARY_WEBSOCKET__MAX_CONNECTIONS=$w1_connections TRIBUTARY_LOG__LEVEL=warn exec "$bin/tributary" --schema "$root/schema.graphql" --listen "127.0.0.1:$port" 2>/dev/null) & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -d '{"query":"{greet}"}' && return 0; sleep 0.1; done
  echo "bench: $1 did not start" >&2; exit 1
}

post() { curl -s "http://127.0.0.1:$port/graphql" -H 'content-type: application/json' -d "$1"; }

check() { # scenario body
  local out; out=$(post "$2")
  python3 - "$1" "$out" <<'PY'
import json, sys
name, out = sys.argv[1], json.loads(sys.argv[2])
assert not out.get("errors"), out.get("errors")
d = out["data"]
if name == "Q1":
    assert len(d["posts"]) == 100 and all(p["user"] and p["user"]["id"] == p["userId"] for p in d["posts"]), "Q1: 100 posts each with its user"
elif name == "Q2":
    assert len(d["posts"]) == 100 and all(p["title"] for p in d["posts"]), "Q2: 100 titles"
elif name == "Q3":
    assert d["greet"] == "Hello World!", "Q3: greet"
elif name == "S1":
    ps = d["products"]
    assert len(ps) == 20 and all(p["category"]["name"] and isinstance(p["reviews"], list) for p in ps), "S1: 20 products with category and reviews"
PY
}

declare -A query=(
  [Q1]='{"operationName":null,"variables":{},"query":"{posts{id,userId,title,user{id,name,email}}}"}'
  [Q2]='{"operationName":null,"variables":{},"query":"{posts{title}}"}'
  [Q3]='{"operationName":null,"variables":{},"query":"{greet}"}'
)
declare -A base_rps
s1dir=$(mktemp -d)
query[S1]='{"operationName":null,"variables":{},"query":"{products(first:20){id name priceCents category{name} reviews{rating} stock{available}}}"}'

printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %8s\n' server scenario "req/s" "p50 ms" "p99 ms" errors "upstream/req" "RSS MiB" ratio
for server in baseline tributary tributary-nosharing; do
  start_server "$server"
  for q in Q1 Q2 Q3; do
    check "$q" "${query[$q]}" || { echo "bench: $server gave wrong answers for $q" >&2; exit 1; }
    body=$(mktemp); printf '%s' "${query[$q]}" >"$body"
    wrk_lua=$(mktemp --suffix .lua)
    { printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "${query[$q]}"; cat "$lua"; } >"$wrk_lua"
    wrk -t2 -c100 -d3s -s "$wrk_lua" "http://127.0.0.1:$port/graphql" >/dev/null 2>&1 || true   # warm-up
    before=$(upstream_count)
    line=$(wrk -t2 -c100 -d"$duration" -s "$wrk_lua" "http://127.0.0.1:$port/graphql" 2>/dev/null | grep '^RESULT' || true)
    after=$(upstream_count)
    read -r _ reqs rps p50 p99 errs <<<"$line"
    per=$(python3 -c "print(f'{($after-$before-1)/max($reqs,1):.2f}')")
    rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server_pid/status")
    if [[ $server == baseline ]]; then base_rps[$q]=$rps; ratio="1.00"; else ratio=$(python3 -c "print(f'{$rps/max(${base_rps[$q]},0.001):.2f}')"); fi
    printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %7sx\n' "$server" "$q" "$rps" "$p50" "$p99" "$errs" "$per" "$rss" "$ratio"
    rm -f "$body" "$wrk_lua"
  done
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
done
# S1: the storefront query with @cache on and off (sharing on in both). The SQLite file is
# created and seeded by the first start.
for server in s1-cached s1-uncached s1-cached-nosharing s1-uncached-nosharing; do
  start_server "$server"
  q=S1
  check "$q" "${query[$q]}" || { echo "bench: $server gave wrong answers for $q" >&2; exit 1; }
  wrk_lua=$(mktemp --suffix .lua)
  { printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "${query[$q]}"; cat "$lua"; } >"$wrk_lua"
  wrk -t2 -c100 -d3s -s "$wrk_lua" "http://127.0.0.1:$port/graphql" >/dev/null 2>&1 || true
  line=$(wrk -t2 -c100 -d"$duration" -s "$wrk_lua" "http://127.0.0.1:$port/graphql" 2>/dev/null | grep '^RESULT' || true)
  read -r _ reqs rps p50 p99 errs <<<"$line"
  rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server_pid/status")
  case $server in
    s1-cached|s1-cached-nosharing) s1_cached=$rps; ratio="-" ;;
    *) ratio=$(python3 -c "print(f'{$s1_cached/max($rps,0.001):.2f}x cached/uncached')") ;;
  esac
  printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %8s\n' "$server" "$q" "$rps" "$p50" "$p99" "$errs" "-" "$rss" "$ratio"
  rm -f "$wrk_lua"
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
done
rm -rf "$s1dir"

# W1: WebSocket fan-out (demo storefront, development mode): N graphql-transport-ws subscribers
# to stockChanged(productId: "1"), then one updateStock mutation over HTTP; delivery time to
# each subscriber from just before the POST, and the server's RSS per subscriber (after all are
# subscribed minus before, / N). A fresh server for each N. One descriptor per socket on each
# side: the server inherits this shell's limit (the hard limit here is 20,000); the client
# (bench/w1) raises its own soft limit as well. Targets at 10,000: p99 <= 100 ms, <= 10 KiB.
w1_sizes=${W1_SUBSCRIBERS:-1000 10000}
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "bench: W1 with RLIMIT_NOFILE $(ulimit -n) (hard $(ulimit -Hn))" >&2
w1dir=$(mktemp -d)
printf '\n%-22s %11s %10s %9s %9s %9s %15s\n' W1 subscribers received "p50 ms" "p99 ms" "max ms" "RSS KiB/sub"
for n in $w1_sizes; do
  if [[ $(ulimit -n) != unlimited ]] && (( n + 100 > $(ulimit -n) )); then
    echo "bench: W1 with $n subscribers needs more than $(ulimit -n) open files (ulimit -n); skipped" >&2
    continue
  fi
  w1_connections=$((n + 1000))
  start_server w1
  out=$("$bin/tributary-bench-w1" --url "http://127.0.0.1:$port" --subscribers "$n" --server-pid "$server_pid" 2>&1 || true)
  line=$(grep '^RESULT' <<<"$out" || true)
  read -r _ _ _ received p50 p99 max per <<<"${line:-RESULT - - 0 - - - -}"
  printf '%-22s %11s %10s %9s %9s %9s %15s\n' tributary "$n" "$received" "$p50" "$p99" "$max" "$per"
  [[ $received == "$n" ]] || { echo "bench: W1 with $n subscribers: not all received the event:" >&2; echo "$out" >&2; }
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
done
rm -rf "$w1dir"
echo "skipped: S1a-S1c (SQL fixture): not built yet"
