#!/usr/bin/env bash
# Redis time per cart request (the one resource every replica shares): µs of
# Redis' own time per cart script call, from INFO commandstats, on a cart of LINES
# lines (10), for each kind of cart request, beside an empty script's:
#   empty   EVAL "return 0" 0, by redis-benchmark (the floor of any script)
#   add     POST /api/cart/add of a product already in the cart
#   read    GET /api/cart
#   set     PUT /api/cart/item/{id}?quantity=N
# Each phase sends N (2000) requests of one kind from 4 shoppers (each its own
# cart and keep-alive connection), with the statistics reset once their carts
# are filled, and counts only the script calls (fcall: every script is a
# function of trolley's library). Then the service API's
# checkout steps, N/4 of each, per request (each request also finds its ext/
# cart: one more script call):
#   claim     POST /v1/carts/ext/{id}/checkout of a cart of LINES lines
#   complete  POST …/checkout/{claimId}/complete of that claim
# Run from the project root after `cargo build --release` (TROLLEY_BIN for
# another build). Prints one line per kind, each as a multiple of the empty
# script.
set -euo pipefail
N=${N:-2000} LINES=${LINES:-10}
# shellcheck source=scripts/lib.sh
source "$(dirname "$0")/lib.sh"
redis_port=$(free_port)
start_redis "$redis_port"
redis_url="redis://127.0.0.1:$redis_port"
TROLLEY_REDIS_URL=$redis_url "${TROLLEY_BIN:-target/release/trolley}" catalog import deploy/catalog/demo-catalog.json >/dev/null
service=$(free_port)
serve_trolley server TROLLEY_REDIS_URL="$redis_url" TROLLEY_MAX_QUANTITY=1000000 \
    TROLLEY_SERVICE_LISTEN="127.0.0.1:$service" TROLLEY_SERVICE_TOKENS=redis-time

# µs per call of the script commands since the last reset (the empty script
# is an EVAL; trolley's scripts are FCALLs).
script_usec() {
    redis-cli -p "$redis_port" info commandstats |
        awk -F'[:,=]' '/^cmdstat_(fcall|eval):/ { calls += $3; usec += $5 }
                       END { if (calls) printf "%.2f %d\n", usec / calls, calls; else print "0 0" }'
}

redis-cli -p "$redis_port" config resetstat >/dev/null
redis-benchmark -p "$redis_port" -n 50000 -c 4 -q eval "return 0" 0 >/dev/null
read -r empty _ < <(script_usec)
echo "empty  usec_per_call=$empty"

for kind in add read set; do
    redis-cli -p "$redis_port" config resetstat >/dev/null
    python3 - "$public" "$kind" "$N" "$LINES" "$redis_port" <<'EOF'
import http.client, json, subprocess, sys, threading

port, kind, n, lines, redis_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
CLIENTS = 4  # so Redis is kept busy, as under load


class Shopper:
    def __init__(self):
        self.conn = http.client.HTTPConnection("127.0.0.1", int(port))
        self.cookie = None

    def send(self, method, path, body=None):
        headers = {"content-type": "application/json"}
        if self.cookie:
            headers["cookie"] = self.cookie
        self.conn.request(method, path, body=body, headers=headers)
        reply = self.conn.getresponse()
        data = reply.read()
        if reply.status != 200:
            raise RuntimeError(f"{method} {path}: {reply.status} {data[:200]!r}")
        if reply.getheader("set-cookie"):
            self.cookie = reply.getheader("set-cookie").split(";")[0]
        return json.loads(data)

    def fill(self):
        for product in range(1, lines + 1):
            added = self.send("POST", "/api/cart/add", json.dumps({"productId": product, "quantity": 1}))
            self.line = added["cartItem"]["id"]

    def run(self):
        for i in range(n // CLIENTS):
            if kind == "add":
                self.send("POST", "/api/cart/add", json.dumps({"productId": 1 + i % lines, "quantity": 1}))
            elif kind == "read":
                self.send("GET", "/api/cart")
            else:
                self.send("PUT", f"/api/cart/item/{self.line}?quantity={1 + i % 5}")


shoppers = [Shopper() for _ in range(CLIENTS)]
for shopper in shoppers:
    shopper.fill()
# Only the measured requests count.
subprocess.run(["redis-cli", "-p", redis_port, "config", "resetstat"], check=True, capture_output=True)
failures = []


def run(shopper):
    try:
        shopper.run()
    except Exception as error:  # a thread's exception would only be printed
        failures.append(error)


threads = [threading.Thread(target=run, args=(shopper,)) for shopper in shoppers]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
if failures:
    sys.exit(f"a request failed: {failures[0]}")
EOF
    read -r usec calls < <(script_usec)
    ratio=$(awk -v a="$usec" -v b="$empty" 'BEGIN { printf "%.1f", a / b }')
    echo "$kind    usec_per_call=$usec calls=$calls x_empty=$ratio"
done

# The checkout steps on the service port: N/4 carts of LINES lines, claimed,
# then completed; the statistics reset before each step.
python3 - "$service" "$((N / 4))" "$LINES" "$redis_port" "$empty" <<'EOF'
import http.client, json, subprocess, sys, threading

port, n, lines, redis_port, empty = sys.argv[1:6]
n, lines = int(n), int(lines)
CLIENTS = 4


def stats():
    """µs and calls of the script commands since the last reset (a script's time
    includes the commands it runs, which commandstats also lists on their own)."""
    out = subprocess.run(["redis-cli", "-p", redis_port, "info", "commandstats"], check=True,
                         capture_output=True, text=True).stdout
    calls = usec = 0
    for row in out.splitlines():
        if row.startswith("cmdstat_fcall:"):
            fields = dict(part.split("=") for part in row.split(":", 1)[1].split(","))
            calls, usec = calls + int(fields["calls"]), usec + float(fields["usec"])
    return usec, calls


class Caller:
    def __init__(self, index):
        self.conn = http.client.HTTPConnection("127.0.0.1", int(port))
        self.carts = [f"ext/rt-{index}-{i}" for i in range(n // CLIENTS)]
        self.claims = {}

    def send(self, method, path, body=None, expect=200):
        headers = {"authorization": "Bearer redis-time", "content-type": "application/json"}
        self.conn.request(method, path, body=body, headers=headers)
        reply = self.conn.getresponse()
        data = reply.read()
        if reply.status != expect:
            raise RuntimeError(f"{method} {path}: {reply.status} {data[:200]!r}")
        return json.loads(data)

    def fill(self):
        for cart in self.carts:
            for product in range(1, lines + 1):
                self.send("POST", f"/v1/carts/{cart}/items", json.dumps({"productId": product}))

    def claim(self):
        for cart in self.carts:
            self.claims[cart] = self.send("POST", f"/v1/carts/{cart}/checkout", expect=201)["claimId"]

    def complete(self):
        for cart, claim in self.claims.items():
            self.send("POST", f"/v1/carts/{cart}/checkout/{claim}/complete", json.dumps({"orderId": claim}))


def run(callers, step):
    failures = []

    def one(caller):
        try:
            getattr(caller, step)()
        except Exception as error:  # a thread's exception would only be printed
            failures.append(error)

    threads = [threading.Thread(target=one, args=(caller,)) for caller in callers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"{step}: a request failed: {failures[0]}")


callers = [Caller(i) for i in range(CLIENTS)]
run(callers, "fill")
requests = sum(len(caller.carts) for caller in callers)
for step in ("claim", "complete"):
    subprocess.run(["redis-cli", "-p", redis_port, "config", "resetstat"], check=True, capture_output=True)
    run(callers, step)
    usec, calls = stats()
    per = usec / requests
    print(f"{step:<8} usec_per_request={per:.2f} scripts_per_request={calls / requests:.1f} "
          f"requests={requests} x_empty={per / float(empty):.1f}")
EOF
