# Sourced by the scripts that start a part and wait for the line it logs
# once it is ready (the simulator's "listening on", a gateway's
# "connected"): one way to wait for it.

# wait_for_line FILE TEXT [SECONDS]: returns once FILE holds TEXT (a grep
# pattern). After SECONDS (default 10) it prints the file's last 20 lines
# to stderr and fails.
wait_for_line() {
  local file=$1 text=$2 limit=${3:-10}
  local deadline=$((SECONDS + limit))
  until grep -q "$text" "$file" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "gave up waiting for '$text' in $file after $limit s:" >&2
      tail -n 20 "$file" >&2
      return 1
    fi
    sleep 0.1  # polling a log file for a start-up line, not synchronising
  done
}
