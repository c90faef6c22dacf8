# Sourced by the signal tests. wait_for_handlers PID: returns once PID catches SIGINT and
# SIGTERM (bits 1 and 14 of SigCgt in /proc/PID/status), or after 5 s. Signalled earlier, on
# a loaded machine, a program could get the signal before csp::signals had installed its
# handler.
wait_for_handlers() {
  local pid=$1 tries=0 mask
  while [ "$tries" -lt 500 ]; do  # 500 x 10 ms
    mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$mask" ] && [ $((0x$mask & 0x4002)) -eq $((0x4002)) ] && return 0
    sleep 0.01
    tries=$((tries + 1))
  done
}
