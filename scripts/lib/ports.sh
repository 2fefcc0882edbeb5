# Sourced by the scripts that start servers on loopback (demo, interop, ARM
# smoke): one way to pick a port.

# A loopback port nothing listens on (bash's /dev/tcp: a refused connect).
# The small race until the server binds is accepted.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
}
