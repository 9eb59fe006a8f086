#!/usr/bin/env bash
# The benchmark runner: builds release binaries, starts the shared upstream, then for each
# server (the hand-written async-graphql baseline, Tributary with cross-request sharing on and
# off) and each scenario checks the answers, warms up, loads with wrk and prints one table:
# requests/s, p50, p99, errors (HTTP and GraphQL, from every response body), upstream calls
# per GraphQL request (nginx stub_status), peak RSS, and the ratio to the baseline.
#
# The SQL scenarios (S1a-S1c, bench/sql.graphql) load the shared fixture into a fresh PostgreSQL
# database and report SQL statements per GraphQL request instead of upstream calls, and the
# ratio to the shared README's hand-written async-graphql + sqlx figures.
#
#   bench/run.sh                 # all scenarios
#   DURATION=5s bench/run.sh     # shorter runs
#   SCENARIOS="s1sql" bench/run.sh       # some of: q (Q1-Q3), s1 (demo storefront),
#                                        # s1sql (S1a-S1c on the SQL fixture), w1; default all
#   W1_SUBSCRIBERS="1000" bench/run.sh   # W1 (WebSocket fan-out) sizes; default "1000 10000"
#   BENCH_PG=postgres://postgres@127.0.0.1:5432 bench/run.sh   # the PostgreSQL server for s1sql
#   SQL_CONNECTIONS=50 bench/run.sh      # wrk connections for s1sql (the shared README's -c50)
#   SQL_BURST=1000 bench/run.sh          # s1sql: requests of the exact statement count
#   PG_STATS_SETTLE=11 bench/run.sh      # s1sql: seconds to wait for pg_stat_database
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shared=${SHARED:-$(cd "$root/.." && pwd)/shared}
[[ -d $shared/bench ]] || { echo "bench: the shared fixture is not at $shared/bench (set SHARED)" >&2; exit 1; }
duration=${DURATION:-10s}
port=${BENCH_PORT:-8800}
scenarios=${SCENARIOS:-q s1 s1sql w1}
for s in $scenarios; do
  case $s in q|s1|s1sql|w1) ;; *) echo "bench: unknown scenario '$s' in SCENARIOS (q s1 s1sql w1)" >&2; exit 1 ;; esac
done
want() { [[ " $scenarios " == *" $1 "* ]]; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
if want s1sql; then
  command -v psql >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null; }
fi

echo "bench: building release binaries" >&2
packages=(-p tributary)
want q && packages+=(-p tributary-bench-baseline)
want w1 && packages+=(-p tributary-bench-w1)
cargo build --release -q "${packages[@]}"
bin=$root/target/release

pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
sqldb=
cleanup() {
  kill "${server_pid:-}" 2>/dev/null || true
  rm -f "${check_lua:-}" "${load_lua:-}" "${sampler:-}"
  if want q; then bash "$shared/bench/upstream.sh" stop >/dev/null 2>&1 || true; fi
  if [[ -n $sqldb ]]; then psql "$pg/postgres" -qAtc "DROP DATABASE IF EXISTS $sqldb WITH (FORCE)" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
if want q && ! curl -fs -o /dev/null http://127.0.0.1:3000/users/1; then
  bash "$shared/bench/upstream.sh" >/dev/null </dev/null 2>&1 || { echo "bench: upstream did not start" >&2; exit 1; }
fi

# wrk's Lua `response` hook hands every body to Lua, which costs wrk more CPU than a fast
# server spends on the request (measured here: Q3 fell from ~60k to ~25k req/s for every
# server, as wrk and the server share the 2 cores). So bodies are checked in the warm-up, every
# one of them, at the same load, and sampled by a slow side client during the measured run,
# which itself defines no `response` hook (non-2xx and socket errors come from wrk's summary).
check_lua=$(mktemp --suffix .lua)
cat >"$check_lua" <<'LUA'
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
  io.write(string.format("CHECKED %d %d\n", summary.requests, b + e.connect + e.read + e.write + e.timeout))
end
LUA
load_lua=$(mktemp --suffix .lua)
cat >"$load_lua" <<'LUA'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %.1f %.2f %.2f %d\n", summary.requests,
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, e.status + e.connect + e.read + e.write + e.timeout))
end
LUA
sampler=$(mktemp --suffix .py)
cat >"$sampler" <<'PY'
# Posts the body every 100 ms on one keep-alive connection until killed; prints the bodies
# that were not a 200 without "errors" (on SIGTERM).
import http.client, signal, sys, time
port, body = int(sys.argv[1]), sys.argv[2].encode()
seen = bad = 0
def stop(*_):
    print(f"SAMPLED {seen} {bad}", flush=True); sys.exit(0)
signal.signal(signal.SIGTERM, stop)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
while True:
    try:
        conn.request("POST", "/graphql", body, {"content-type": "application/json"})
        r = conn.getresponse(); text = r.read()
        seen += 1
        if r.status != 200 or b'"errors"' in text: bad += 1
    except Exception:
        seen += 1; bad += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    time.sleep(0.1)
PY
# warmup <connections> <body>: 3 s at the load, every body checked; prints the bad ones.
# wrk_script <body> <lua>: a wrk script POSTing the body, with the given hooks; prints its path.
wrk_script() {
  local script; script=$(mktemp --suffix .lua)
  { printf 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [[%s]]\n' "$1"; cat "$2"; } >"$script"
  echo "$script"
}
warmup() {
  local script out
  script=$(wrk_script "$2" "$check_lua")
  out=$(wrk -t2 -c"$1" -d3s -s "$script" "http://127.0.0.1:$port/graphql" 2>/dev/null | grep '^CHECKED' || echo "CHECKED 0 1")
  rm -f "$script"
  read -r _ _ bad <<<"$out"
  echo "$bad"
}
# measure <connections> <body> [counter command]: the measured run, bodies sampled; prints
# "<requests served> <req/s> <p50> <p99> <errors> <counter delta>" (requests served counts
# the sampler's too, as the counter does).
measure() {
  local script sampled sampler_pid line c0=0 c1=0
  script=$(wrk_script "$2" "$load_lua")
  sampled=$(mktemp)
  [[ -n ${3:-} ]] && c0=$($3)
  python3 "$sampler" "$port" "$2" >"$sampled" & sampler_pid=$!
  line=$(wrk -t2 -c"$1" -d"$duration" -s "$script" "http://127.0.0.1:$port/graphql" 2>/dev/null | grep '^RESULT' || echo "RESULT 0 0 0 0 1")
  kill -TERM "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null || true
  [[ -n ${3:-} ]] && c1=$($3)
  local seen sbad reqs rps p50 p99 errs
  read -r _ seen sbad <<<"$(cat "$sampled")"
  read -r _ reqs rps p50 p99 errs <<<"$line"
  rm -f "$script" "$sampled"
  echo "$((reqs + ${seen:-0})) $rps $p50 $p99 $((errs + ${sbad:-1})) $((c1 - c0))"
}

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
    # S1a-S1c: the SQL fixture (bench/sql.graphql) in the fresh database $sqldb.
    tributary-sql) BENCH_DATABASE_URL="$pg/$sqldb" TRIBUTARY_LOG__LEVEL=warn "$bin/tributary" --production --schema bench/sql.graphql --listen "127.0.0.1:$port" 2>/dev/null & ;;
    tributary-sql-nosharing) BENCH_DATABASE_URL="$pg/$sqldb" TRIBUTARY_SERVER__SHARING=false TRIBUTARY_LOG__LEVEL=warn "$bin/tributary" --production --schema bench/sql.graphql --listen "127.0.0.1:$port" 2>/dev/null & ;;
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
# S1a-S1c: the fixture's deterministic seed (../shared/bench/sql/storefront.sql): product i is in
# category 1 + (i-1) % 50 and costs 99 + (i*7919) % 100000 cents; review i has rating
# 1 + ((i*37)//11) % 5 and product 1's reviews are ids 1, 1001, ..., 49001.
elif name == "S1a":
    assert [p["id"] for p in d["products"]] == [str(i) for i in range(1, 21)], "S1a: products 1..20 in id order"
    for p in d["products"]:
        i = int(p["id"])
        assert p["name"] == f"Product {i}" and p["priceCents"] == 99 + (i * 7919) % 100000, f"S1a: product {i}: {p}"
        assert p["category"]["name"] == f"Category {1 + (i - 1) % 50:02d}", f"S1a: product {i}'s category: {p}"
elif name == "S1b":
    cs = d["categories"]
    assert [c["name"] for c in cs] == [f"Category {c:02d}" for c in range(1, 51)], "S1b: the 50 categories in id order"
    for c, cat in enumerate(cs, start=1):
        want = [c + 50 * k for k in range(10)]
        assert [(p["id"], p["name"]) for p in cat["products"]] == [(str(i), f"Product {i}") for i in want], f"S1b: category {c}'s first 10 products: {cat}"
elif name == "S1c":
    p = d["product"]
    want = [49001 - 1000 * k for k in range(20)]
    assert p["name"] == "Product 1", "S1c: product 1"
    got = [(r["rating"], r["body"].split(":")[0]) for r in p["reviews"]]
    assert got == [(1 + ((i * 37) // 11) % 5, f"Review {i}") for i in want], f"S1c: product 1's 20 most recent reviews: {got}"
PY
}

declare -A query=(
  [Q1]='{"operationName":null,"variables":{},"query":"{posts{id,userId,title,user{id,name,email}}}"}'
  [Q2]='{"operationName":null,"variables":{},"query":"{posts{title}}"}'
  [Q3]='{"operationName":null,"variables":{},"query":"{greet}"}'
)
declare -A base_rps
s1dir=$(mktemp -d)
query[S1a]='{"operationName":null,"variables":{},"query":"{products(first:20){id name priceCents category{name}}}"}'
query[S1b]='{"operationName":null,"variables":{},"query":"{categories{name products(first:10){id name}}}"}'
query[S1c]='{"operationName":null,"variables":{},"query":"{product(id:1){name reviews(first:20){rating body}}}"}'
query[S1]='{"operationName":null,"variables":{},"query":"{products(first:20){id name priceCents category{name} reviews{rating} stock{available}}}"}'

printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %8s\n' server scenario "req/s" "p50 ms" "p99 ms" errors "upstream/req" "RSS MiB" ratio
if want q; then
  for server in baseline tributary tributary-nosharing; do
    start_server "$server"
    for q in Q1 Q2 Q3; do
      check "$q" "${query[$q]}" || { echo "bench: $server gave wrong answers for $q" >&2; exit 1; }
      wbad=$(warmup 100 "${query[$q]}")
      read -r reqs rps p50 p99 errs calls <<<"$(measure 100 "${query[$q]}" upstream_count)"
      errs=$((errs + wbad))
      per=$(python3 -c "print(f'{($calls-1)/max($reqs,1):.2f}')")   # -1: the stub_status read itself
      rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server_pid/status")
      if [[ $server == baseline ]]; then base_rps[$q]=$rps; ratio="1.00"; else ratio=$(python3 -c "print(f'{$rps/max(${base_rps[$q]},0.001):.2f}')"); fi
      printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %7sx\n' "$server" "$q" "$rps" "$p50" "$p99" "$errs" "$per" "$rss" "$ratio"
    done
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  done
fi
if want s1; then
  # S1: the storefront query with @cache on and off (sharing on in both). The SQLite file is
  # created and seeded by the first start.
  for server in s1-cached s1-uncached s1-cached-nosharing s1-uncached-nosharing; do
    start_server "$server"
    q=S1
    check "$q" "${query[$q]}" || { echo "bench: $server gave wrong answers for $q" >&2; exit 1; }
    wbad=$(warmup 100 "${query[$q]}")
    read -r reqs rps p50 p99 errs _ <<<"$(measure 100 "${query[$q]}")"
    errs=$((errs + wbad))
    rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server_pid/status")
    case $server in
      s1-cached|s1-cached-nosharing) s1_cached=$rps; ratio="-" ;;
      *) ratio=$(python3 -c "print(f'{$s1_cached/max($rps,0.001):.2f}x cached/uncached')") ;;
    esac
    printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %8s\n' "$server" "$q" "$rps" "$p50" "$p99" "$errs" "-" "$rss" "$ratio"
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  done
  rm -rf "$s1dir"
fi

# S1a-S1c: the shared SQL fixture (../shared/bench/sql/storefront.sql) in a fresh PostgreSQL
# database, served by bench/sql.graphql in production mode with sharing on and off. Load:
# wrk -t2 -c$SQL_CONNECTIONS (50, as in the shared README, whose hand-written async-graphql +
# sqlx figures give the ratio). SQL statements per request are counted by PostgreSQL itself:
# - with pg_stat_statements loaded (shared_preload_libraries): the delta of sum(calls) for the
#   bench database, read at once;
# - otherwise (this machine): the delta of xact_commit + xact_rollback in pg_stat_database for
#   the bench database. Every statement Tributary runs outside a transaction is one transaction,
#   and nothing else touches that database: the fixture is VACUUM ANALYZEd after loading (so
#   autovacuum has nothing to do), the counters are read from the `postgres` database, and the
#   warm-up at the same load fills the pool and prepares every statement on every connection
#   (a new connection's SET statement_timeout, or a first Parse, would each count one).
#   Backends publish these counters when idle, at most 10 s late (PGSTAT_IDLE_INTERVAL), so each
#   reading waits $PG_STATS_SETTLE (11) seconds after the load.
# The column is counted over a burst of $SQL_BURST (1000) requests kept $SQL_CONNECTIONS at a
# time in flight (curl --parallel), run after the warm-up: every one of them completes, so the
# count is exact. Over wrk's timed run the same count is only approximate (logged on stderr):
# wrk stops with a request in flight on each connection, uncounted, and the server runs some or
# all of those requests' statements (or none, when it drops them), up to 2 x connections extra.
if want s1sql; then
  sql_conn=${SQL_CONNECTIONS:-50}
  sql_burst=${SQL_BURST:-1000}
  settle=${PG_STATS_SETTLE:-11}
  declare -A sql_ref=([S1a]=4900 [S1b]=490 [S1c]=4400)   # ../shared/bench/README.md, req/s
  psql "$pg/postgres" -qAtc 'SELECT 1' >/dev/null || { echo "bench: PostgreSQL unreachable at $pg (set BENCH_PG)" >&2; exit 1; }
  sqldb=tributary_bench_$$
  psql "$pg/postgres" -qAtc "CREATE DATABASE $sqldb" >/dev/null
  echo "bench: loading the SQL fixture into $sqldb" >&2
  psql "$pg/$sqldb" -q -v ON_ERROR_STOP=1 -f "$shared/bench/sql/storefront.sql" >/dev/null
  psql "$pg/$sqldb" -qAtc 'VACUUM ANALYZE' >/dev/null
  if [[ $(psql "$pg/postgres" -qAtc 'SHOW shared_preload_libraries') == *pg_stat_statements* ]]; then
    psql "$pg/$sqldb" -qAtc 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements' >/dev/null
    sql_method=pg_stat_statements
    sql_count() { psql "$pg/postgres" -qAtc "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '$sqldb')"; }
  else
    sql_method=pg_stat_database
    sql_count() { sleep "$settle"; psql "$pg/postgres" -qAtc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$sqldb'"; }
  fi
  burst() { # body: $sql_burst POSTs, $sql_conn in flight; prints "<HTTP 200s> <bodies with errors>"
    local cfg; cfg=$(mktemp)
    for ((i = 0; i < sql_burst; i++)); do echo "url = \"http://127.0.0.1:$port/graphql\""; done >"$cfg"
    curl -s --no-progress-meter -Z --parallel-max "$sql_conn" --parallel-immediate -H 'content-type: application/json' \
      -d "$1" -K "$cfg" -w '\nSTATUS %{http_code}\n' | awk '/^STATUS 200$/ {ok++} /"errors"/ {bad++} END {print ok+0, bad+0}'
    rm -f "$cfg"
  }
  echo "bench: S1a-S1c statements counted with $sql_method; wrk -t2 -c$sql_conn" >&2
  printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %8s %s\n' server scenario "req/s" "p50 ms" "p99 ms" errors "SQL stmts/req" "RSS MiB" ratio "(to hand-written async-graphql + sqlx req/s)"
  for server in tributary-sql tributary-sql-nosharing; do
    start_server "$server"
    for q in S1a S1b S1c; do
      check "$q" "${query[$q]}" || { echo "bench: $server gave wrong answers for $q" >&2; exit 1; }
      wbad=$(warmup "$sql_conn" "${query[$q]}")
      c0=$(sql_count)
      read -r ok bad <<<"$(burst "${query[$q]}")"
      c1=$(sql_count)
      [[ $ok == "$sql_burst" && $bad == 0 ]] || { echo "bench: $server $q: $ok of $sql_burst answered 200, $bad with errors" >&2; exit 1; }
      read -r reqs rps p50 p99 errs _ <<<"$(measure "$sql_conn" "${query[$q]}")"
      errs=$((errs + wbad))
      c2=$(sql_count)
      echo "bench: $server $q: $((c1 - c0)) statements for $sql_burst requests (burst, exact); $((c2 - c1)) for the $reqs served in the timed run (plus wrk's last in-flight ones)" >&2
      per=$(python3 -c "print(f'{($c1-$c0)/$sql_burst:.2f}')")
      rss=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$server_pid/status")
      ratio=$(python3 -c "print(f'{$rps/${sql_ref[$q]}:.2f}x')")
      printf '%-22s %-4s %10s %9s %9s %7s %14s %9s %8s %s\n' "$server" "$q" "$rps" "$p50" "$p99" "$errs" "$per" "$rss" "$ratio" "(of ${sql_ref[$q]})"
    done
    kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=
  done
fi

# W1: WebSocket fan-out (demo storefront, development mode): N graphql-transport-ws subscribers
# to stockChanged(productId: "1"), then one updateStock mutation over HTTP; delivery time to
# each subscriber from just before the POST, and the server's RSS per subscriber (after all are
# subscribed minus before, / N). A fresh server for each N. One descriptor per socket on each
# side: the server inherits this shell's limit (the hard limit here is 20,000); the client
# (bench/w1) raises its own soft limit as well. Targets at 10,000: p99 <= 100 ms, <= 10 KiB.
if want w1; then
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
fi
