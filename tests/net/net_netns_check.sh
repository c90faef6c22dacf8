#!/bin/bash
# net_netns_check.sh <net_peer>: csp::net between two network namespaces joined by a veth
# pair that this script creates (addresses 10.254.N.1 and .2, inside the namespaces only)
# and removes on exit. Needs root; exits 77 (CTest: skipped), saying why, where it cannot.
#   1. a listener in one namespace, a dialer process in the other: 5000 values, in order,
#      the peer counted closed;
#   2. the same with a dialer that sends forever, then the veth pair is deleted (a cut
#      network: no FIN, no RST): the listener must count the peer lost and the dialer's send
#      must fail, each within a few seconds (peer_timeout is 3 s).
set -u
peer=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: net_netns needs root (ip netns, veth)"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: no ip command (Debian: iproute2)"; exit 77; }

n=$(( $$ % 200 + 20 ))
ns_a="cspnet$$a" ns_b="cspnet$$b" if_a="csp$$a" if_b="csp$$b"
dir=$(mktemp -d)
cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$dir"/*.out; do echo "--- $f"; cat "$f"; done; exit 1; }

if ! ip netns add "$ns_a" 2>"$dir/err"; then
  echo "SKIP: cannot create a network namespace: $(cat "$dir/err")"
  exit 77
fi
ip netns add "$ns_b" || fail "ip netns add $ns_b"
ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b" || {
  echo "SKIP: cannot create a veth pair"; exit 77; }
ip -n "$ns_a" addr add "10.254.$n.1/24" dev "$if_a"
ip -n "$ns_b" addr add "10.254.$n.2/24" dev "$if_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$if_a" up
ip -n "$ns_b" link set "$if_b" up

# wait_line FILE PATTERN SECONDS: until FILE has a line matching PATTERN.
wait_line() {
  local i
  for ((i = 0; i < $3 * 20; i++)); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
field() { sed -n "s/.*\\b$2 \\([0-9]*\\).*/\\1/p" "$1" | tail -n 1; }

# 1. Across the namespaces.
ip netns exec "$ns_a" "$peer" listen "tcp://10.254.$n.1:0" 1 >"$dir/listen1.out" &
wait_line "$dir/listen1.out" '^url ' 10 || fail "the listener printed no url"
url=$(sed -n 's/^url //p' "$dir/listen1.out")
ip netns exec "$ns_b" "$peer" send "$url" 1 5000 100 >"$dir/send1.out" || fail "the dialer failed"
wait_line "$dir/listen1.out" '^received ' 20 || fail "the listener did not finish"
[ "$(field "$dir/listen1.out" received)" = 5000 ] || fail "not 5000 values received"
[ "$(field "$dir/listen1.out" inorder)" = 1 ] || fail "values out of order"
[ "$(field "$dir/listen1.out" closed)" = 1 ] || fail "the peer was not counted closed"
echo "ok: 5000 values from $ns_b to $ns_a ($url)"

# 2. The network is cut under a live link.
ip netns exec "$ns_a" "$peer" listen "tcp://10.254.$n.1:0" 1 >"$dir/listen2.out" &
wait_line "$dir/listen2.out" '^url ' 10 || fail "the second listener printed no url"
url=$(sed -n 's/^url //p' "$dir/listen2.out")
ip netns exec "$ns_b" "$peer" send-forever "$url" 2 >"$dir/send2.out" &
sleep 1
ip -n "$ns_a" link del "$if_a" || fail "cannot delete the veth pair"
start=$SECONDS
wait_line "$dir/listen2.out" '^received ' 15 || fail "the listener did not notice the cut"
[ "$(field "$dir/listen2.out" lost)" = 1 ] || fail "the peer was not counted lost"
[ "$(field "$dir/listen2.out" closed)" = 0 ] || fail "the cut peer was counted closed"
[ "$(field "$dir/listen2.out" inorder)" = 1 ] || fail "values out of order before the cut"
wait_line "$dir/send2.out" '^send failed after ' 15 || fail "the dialer's send did not fail"
echo "ok: the cut was noticed on both sides within $((SECONDS - start)) s"
