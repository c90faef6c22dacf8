# Sourced by the signal tests.
#
# wait_for_handlers PID: returns once PID catches SIGINT and SIGTERM (bits 1 and 14 of
# SigCgt in /proc/PID/status), or after 5 s. Signalled earlier, on a loaded machine, a
# program could get the signal before csp::signals had installed its handler.
wait_for_handlers() {
  local pid=$1 tries=0 mask
  while [ "$tries" -lt 500 ]; do  # 500 x 10 ms
    mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$mask" ] && [ $((0x$mask & 0x4002)) -eq $((0x4002)) ] && return 0
    sleep 0.01
    tries=$((tries + 1))
  done
}

# wait_for_exit PID: waits up to 1 s for PID to end. Returns 0 if it ended (then
# $waited_ms says about how long it took), else kills it and returns 1.
wait_for_exit() {
  local pid=$1 waited=0
  while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 100 ]; do  # 100 x 10 ms
    sleep 0.01
    waited=$((waited + 1))
  done
  waited_ms=$((waited * 10))
  kill -0 "$pid" 2>/dev/null || return 0
  kill -s KILL "$pid"
  return 1
}
