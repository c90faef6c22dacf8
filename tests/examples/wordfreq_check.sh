#!/bin/bash
# wordfreq_check.sh <wordfreq> <files|stdin|sigint> [wordfreq options...]
# Generates a text (deterministic: awk with a fixed seed) of mixed-case words, digits,
# punctuation, non-ASCII bytes and one word longer than two of wordfreq's 64 KiB chunks, about
# 400 KB in three files, the last one ending inside a word. The expected counts come from a
# plain sequential pipeline (tr, sort, uniq in the C locale). Then:
#   files:  `wordfreq -k 0 FILES` must print exactly the expected list (every word), and
#           `wordfreq FILES` its first 10 lines; the summary's words, distinct, files, bytes
#           must match.
#   stdin:  the same with the text on standard input.
#   sigint: the text is written into a FIFO that stays open; SIGINT 300 ms later must end
#           wordfreq within 1 s with status 130, after it printed the counts of the whole text.
# With --workers N (the shards in worker processes over csp::net), files and stdin also check
# that the output equals the local run's, line for line (the summary up to its options), and:
#   orphans:     wordfreq killed (SIGKILL) while it reads an open FIFO: each of its N workers
#                must be gone within 1 s.
#   lost_worker: one worker killed (SIGKILL) while wordfreq reads an open FIFO: at the end of
#                the input, wordfreq must fail (status 1, "lost a worker", no counts) within
#                1 s, and wait for the other workers.
set -u
wordfreq=$1 mode=$2
. "$(dirname "$0")/signal_helpers.sh"
shift 2
export LC_ALL=C
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

awk -v seed=20261202 -v dir="$dir" 'BEGIN {
  srand(seed)
  split("the of and a to in is you that it he was for on are as with his they I at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part", base, " ")
  n = 0
  for (i in base) vocab[++n] = base[i]
  for (i = 1; i <= 3000; i++) {                       # made-up words, some with digits
    w = ""
    len = 2 + int(rand() * 9)
    for (j = 0; j < len; j++) w = w substr("abcdefghijklmnopqrstuvwxyz0123456789", 1 + int(rand() * (j ? 36 : 26)), 1)
    vocab[++n] = w
  }
  nsep = split(" | |, |. |\n|--|\t|(|) |\"|\047|:\n|\303\251|\342\200\224|  |; ", sep, "|")
  for (f = 1; f <= 3; f++) {
    out = dir "/part" f ".txt"
    for (i = 0; i < 25000; i++) {
      w = vocab[1 + int(n * rand() * rand() * rand())]  # skewed: a few common, many rare
      r = rand()
      if (r < 0.1) w = toupper(w)
      else if (r < 0.3) w = toupper(substr(w, 1, 1)) substr(w, 2)
      else if (r < 0.35) { c = ""; for (j = 1; j <= length(w); j++) c = c (rand() < 0.5 ? toupper(substr(w, j, 1)) : substr(w, j, 1)); w = c }
      if (f == 2 && i == 12000) {                    # one word longer than two chunks
        w = ""; for (j = 0; j < 150000; j++) w = w substr("aBc9", 1 + j % 4, 1)
      }
      printf "%s%s", w, sep[1 + int(nsep * rand())] > out
    }
    if (f < 3) printf "\n" > out
    else printf "Last" > out                         # no newline: the last word ends at EOF
    close(out)
  }
}' || fail "could not generate the text"
files=("$dir"/part1.txt "$dir"/part2.txt "$dir"/part3.txt)
cat "${files[@]}" >"$dir/all.txt"

# The sequential count. The files end between words, so concatenating them splits no word.
tr -cs 'A-Za-z0-9' '\n' <"$dir/all.txt" | tr 'A-Z' 'a-z' | grep -v '^$' >"$dir/words"
sort "$dir/words" | uniq -c | awk '{ print $1, $2 }' | sort -k1,1nr -k2,2 >"$dir/expected"
words=$(wc -l <"$dir/words")
distinct=$(wc -l <"$dir/expected")
bytes=$(wc -c <"$dir/all.txt")
echo "text: $bytes bytes, $words words, $distinct distinct; the most frequent:"
head -3 "$dir/expected"

check_summary() {  # check_summary OUTPUT_FILE FILES BYTES STOPPED_BY
  local summary
  summary=$(tail -n 1 "$1")
  echo "$summary"
  local want="summary: words=$words distinct=$distinct files=$2 bytes=$3 stopped_by=$4 "
  [[ "$summary" == "$want"* ]] || fail "expected a summary starting '$want'"
}

compare() {  # compare OUTPUT_FILE EXPECTED_FILE WHAT
  head -n -1 "$1" >"$dir/got"
  diff "$2" "$dir/got" >"$dir/diff" || { head -20 "$dir/diff"; fail "$3 differs from the sequential count"; }
  echo "ok: $3 ($(wc -l <"$dir/got") lines) equals the sequential count"
}

same_as_local() {  # same_as_local OUTPUT_FILE LOCAL_OUTPUT_FILE: equal up to the options
  sed 's/ width=.*//' "$1" >"$dir/got"
  sed 's/ width=.*//' "$2" >"$dir/local"
  diff "$dir/local" "$dir/got" >"$dir/diff" || { head -20 "$dir/diff"; fail "the output differs from the local run's"; }
  echo "ok: the output equals the local run's"
}

workers_of() {  # workers_of PID: the pids of PID's child processes
  cat /proc/[0-9]*/status 2>/dev/null | awk -v p="$1" '/^Pid:/ { pid = $2 } /^PPid:/ && $2 == p { print pid }'
}

alive() {  # alive PID: PID runs (a zombie left to a parent that does not reap it does not)
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}

start_on_fifo() {  # start_on_fifo wordfreq-arguments...: wordfreq reads a FIFO kept open (fd 3)
  mkfifo "$dir/fifo"
  "$wordfreq" "$@" <"$dir/fifo" >"$dir/out_all" 2>"$dir/err" &
  pid=$!
  exec 3>"$dir/fifo"
  cat "$dir/all.txt" >&3
  wait_for_handlers "$pid"  # by then its workers are started and dialed
  workers=$(workers_of "$pid")
  [ "$(echo "$workers" | wc -w)" -ge 1 ] || fail "no worker processes"
  echo "workers:" $workers
}

run() {  # run OUTPUT_FILE wordfreq-arguments...: with the text in files or on stdin
  local out=$1
  shift
  if [ "$mode" = files ]; then
    timeout -s KILL 10 "$wordfreq" "$@" "${files[@]}" >"$out"
  else
    timeout -s KILL 10 "$wordfreq" "$@" <"$dir/all.txt" >"$out"
  fi
  local status=$?
  [ "$status" -eq 0 ] || fail "wordfreq $* exited with $status"
}

case "$mode" in
files | stdin)
  nfiles=3
  [ "$mode" = stdin ] && nfiles=1
  run "$dir/out_all" -k 0 "$@"
  check_summary "$dir/out_all" $nfiles "$bytes" none
  compare "$dir/out_all" "$dir/expected" "wordfreq -k 0 $* <$mode>"
  run "$dir/out_top" "$@"
  check_summary "$dir/out_top" $nfiles "$bytes" none
  head -n 10 "$dir/expected" >"$dir/expected_top"
  compare "$dir/out_top" "$dir/expected_top" "wordfreq $* <$mode> (top 10)"
  if [[ " $* " == *" --workers "* ]]; then
    run "$dir/out_local" -k 0
    same_as_local "$dir/out_all" "$dir/out_local"
  fi
  ;;
orphans)
  start_on_fifo "$@"
  kill -s KILL "$pid"
  wait "$pid" 2>/dev/null  # (bash would say "Killed")
  for w in $workers; do
    waited=0
    while alive "$w" && [ "$waited" -lt 100 ]; do  # 100 x 10 ms
      sleep 0.01
      waited=$((waited + 1))
    done
    alive "$w" && { kill -s KILL $workers; fail "worker $w still running 1 s after wordfreq died"; }
  done
  echo "ok: no worker outlived wordfreq"
  ;;
lost_worker)
  start_on_fifo -k 0 "$@"
  kill -s KILL ${workers%%[[:space:]]*}
  cat "$dir/all.txt" >&3
  exec 3>&-  # the end of the input
  wait_for_exit "$pid" || fail "wordfreq still running 1 s after the end of its input"
  wait "$pid"
  status=$?
  [ "$status" -eq 1 ] || fail "wordfreq exited with $status with a worker lost, expected 1"
  grep -q "lost a worker" "$dir/err" || { cat "$dir/err"; fail "no 'lost a worker' on stderr"; }
  [ -s "$dir/out_all" ] && fail "wordfreq printed counts with a worker lost"
  for w in $workers; do alive "$w" && fail "worker $w still running after wordfreq ended"; done
  echo "ok: a lost worker made it fail in about $waited_ms ms, with its workers gone"
  ;;
sigint)
  mkfifo "$dir/fifo"
  "$wordfreq" -k 0 "$@" <"$dir/fifo" >"$dir/out_all" &
  pid=$!
  exec 3>"$dir/fifo"  # kept open: wordfreq sees no end of input
  cat "$dir/all.txt" >&3
  echo >&3  # ends the last word: a word still open at the end is not a word yet
  wait_for_handlers "$pid"
  sleep 0.3
  kill -s INT "$pid"
  wait_for_exit "$pid" || fail "wordfreq still running 1 s after SIGINT"
  wait "$pid"
  status=$?
  exec 3>&-
  [ "$status" -eq 130 ] || fail "wordfreq exited with $status after SIGINT, expected 130"
  echo "ok: SIGINT ended it in about $waited_ms ms with status 130"
  check_summary "$dir/out_all" 1 $((bytes + 1)) SIGINT
  compare "$dir/out_all" "$dir/expected" "the counts printed after SIGINT"
  ;;
*) fail "unknown mode $mode" ;;
esac
