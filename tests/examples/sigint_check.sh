#!/bin/bash
# sigint_check.sh <pipeline> <cmake> <pipeline_check.cmake>
# Starts `pipeline --items 0` (it would run for ever), sends it SIGINT 300 ms after it has
# installed its handlers, and fails unless it ends within 1 s with exit status 130 and prints
# a summary whose counts add up (checked by pipeline_check.cmake). Then the same with
# SIGTERM and 143, and both again on 2 threads.
set -u
pipeline=$1 cmake=$2 check=$3
. "$(dirname "$0")/signal_helpers.sh"
out=$(mktemp)
trap 'rm -f "$out"' EXIT

run_one() {  # run_one SIGNAL EXPECTED_STATUS THREADS
  local sig=$1 want=$2 threads=$3
  # A background job of a non-interactive shell starts with SIGINT ignored; csp::signals
  # installs its own handler, so that does not matter to the program.
  "$pipeline" --items 0 --threads "$threads" >"$out" &
  local pid=$!
  wait_for_handlers "$pid"
  sleep 0.3
  kill -s "$sig" "$pid"
  if ! wait_for_exit "$pid"; then
    wait "$pid"
    echo "FAIL: pipeline still running 1 s after SIG$sig (threads=$threads)"
    cat "$out"
    exit 1
  fi
  wait "$pid"
  local status=$?
  cat "$out"
  if [ "$status" -ne "$want" ]; then
    echo "FAIL: pipeline exited with $status after SIG$sig, expected $want (threads=$threads)"
    exit 1
  fi
  "$cmake" -DOUTPUT="$out" -DSTOPPED_BY="SIG$sig" -P "$check" || exit 1
  echo "ok: SIG$sig ended it in about $waited_ms ms with status $status (threads=$threads)"
}

run_one INT 130 1
run_one TERM 143 1
run_one INT 130 2
run_one TERM 143 2
