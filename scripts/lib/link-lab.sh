# A thin, lossy link between two callers, on this machine: sourced by scripts/link-test.sh and
# bench/link.sh. Needs root (network namespaces, tc, nftables).
#
#   c1 (10.77.1.2) ── r ── c2 (10.77.2.2)      r routes between them and runs the signal server
#                                              on 10.77.1.1:8080
#
# The link is shaped on r's two interfaces towards the callers, so each direction of the call has
# its own bottleneck (a token bucket: tbf with a 300 ms queue, like a home router's uplink), and
# forwarded UDP (the media, not the signalling) can be dropped at random. There is no netem in
# this kernel, so the path has no base delay: what the call sees is queueing and loss.
#
#   lab_up                  namespaces, addresses, routes, an empty impairment table
#   lab_shape KBIT LOSS     shape both directions to KBIT kbit/s ("none": unshaped) and drop
#                           LOSS percent of forwarded UDP (may be a fraction, e.g. 3 or 0.5)
#   lab_server BIN LOG      start the signal server in r (its pid in $LAB_SERVER)
#   lab_in c1|c2|r CMD...   run a command in a namespace
#   lab_down                kill everything in the namespaces and remove them

LAB=${LAB:-sl$$}
LAB_URL=ws://10.77.1.1:8080/

lab_in() { local n=$1; shift; ip netns exec "$LAB-$n" "$@"; }

lab_up() {
  local n
  for n in r c1 c2; do ip netns add "$LAB-$n"; ip -n "$LAB-$n" link set lo up; done
  for n in 1 2; do
    ip link add "r$n" netns "$LAB-r" type veth peer name eth0 netns "$LAB-c$n"
    ip -n "$LAB-r" addr add "10.77.$n.1/24" dev "r$n"
    ip -n "$LAB-r" link set "r$n" up
    ip -n "$LAB-c$n" addr add "10.77.$n.2/24" dev eth0
    ip -n "$LAB-c$n" link set eth0 up
    ip -n "$LAB-c$n" route add default via "10.77.$n.1"
  done
  lab_in r sysctl -qw net.ipv4.ip_forward=1
  lab_in r nft -f - <<'N'
table inet impair {
  chain forward {
    type filter hook forward priority 0;
  }
}
N
}

lab_shape() {
  local kbit=$1 loss=$2 n burst
  for n in 1 2; do
    if [ "$kbit" = none ]; then
      tc -n "$LAB-r" qdisc del dev "r$n" root 2>/dev/null || true
    else
      # A burst of a few packets at low rates, about 20 ms worth at high ones.
      burst=$(( kbit * 1000 / 8 / 50 )); [ "$burst" -lt 4000 ] && burst=4000
      tc -n "$LAB-r" qdisc replace dev "r$n" root tbf rate "${kbit}kbit" burst "$burst" latency 300ms
    fi
  done
  lab_in r nft flush chain inet impair forward
  local per_mille
  per_mille=$(python3 -c "print(round(float('$loss') * 10))")
  if [ "$per_mille" -gt 0 ]; then
    lab_in r nft add rule inet impair forward meta l4proto udp numgen random mod 1000 "<" "$per_mille" drop
  fi
}

lab_server() {
  local bin=$1 log=$2
  lab_in r "$bin" --listen 10.77.1.1:8080 >"$log" 2>&1 &
  LAB_SERVER=$!
  local _
  for _ in $(seq 100); do
    lab_in c1 python3 -c "import urllib.request; urllib.request.urlopen('http://10.77.1.1:8080/healthz', timeout=1)" \
      2>/dev/null && return 0
    kill -0 "$LAB_SERVER" 2>/dev/null || { echo "link-lab: the signal server exited; see $log" >&2; return 1; }
    sleep 0.1
  done
  echo "link-lab: the signal server did not come up; see $log" >&2
  return 1
}

lab_down() {
  local n
  for n in r c1 c2; do ip netns pids "$LAB-$n" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for n in r c1 c2; do ip netns del "$LAB-$n" 2>/dev/null || true; done
}
