# Smoke test of csp-bench, run as `cmake -DCSP_BENCH=<path> -DMODE=<mode> -P check_bench.cmake`.
# It checks what csp-bench prints, never how fast anything ran.
#
#   MODE=rows     every workload x impl (csp, boost, csp-pinned, boost-pinned) x threads
#                 (1, 2) x capacity (0, 1, 1024, unbounded where a capacity applies) with
#                 --messages 200 --repeat 2 --format json: exit 0 (csp-bench itself fails a
#                 row whose counts or sums do not add up), one row per impl in the order
#                 asked, every line is a JSON object with every key, the parameters are
#                 those asked for, measured rows have ns_per_msg > 0 and msgs_per_sec > 0,
#                 boost's select and unbounded rows say "skipped", and boost's rows at 2
#                 threads (only those) say in their note that they ran on work_stealing.
#   MODE=suite    --suite --messages 200 --repeat 1 in json (row count, keys, the default
#                 impls csp and boost) and in csv (header and column count) and table
#                 (exits 0); --suite --in-process with boost's work_stealing rows, whose
#                 threads every later row and repeat of the process reuses.
#   MODE=net      --workload net --impl csp,nng --messages 200 (json, 1 and 2 threads, and
#                 table): the four rows csp/nng x net/net_pingpong in that order, measured,
#                 with net's default capacity 64 and net_pingpong's 1; the impls without net
#                 rows (boost, csp-pinned, boost-pinned; nng for the channel workloads) are
#                 skipped rows, not failures. Needs csp::net (tests/bench/CMakeLists.txt).
#   MODE=bad      bad command lines exit with a non-zero status and a message (and no crash).
cmake_minimum_required(VERSION 3.20)

if(NOT CSP_BENCH)
  message(FATAL_ERROR "pass -DCSP_BENCH=<path to csp-bench>")
endif()

set(keys impl workload capacity threads producers consumers messages ns_per_msg
         ns_per_msg_min msgs_per_sec peak_rss_kb)
set(failures 0)

function(fail what)
  message(SEND_ERROR "${what}")
  math(EXPR n "${failures} + 1")
  set(failures ${n} PARENT_SCOPE)
endfunction()

# run_bench(<out var> <args>...): runs csp-bench, fails the test unless it exits 0.
function(run_bench out)
  execute_process(COMMAND ${CSP_BENCH} ${ARGN}
                  OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "csp-bench ${ARGN} exited with '${rc}':\n${stdout}\n${stderr}")
  endif()
  set(${out} "${stdout}" PARENT_SCOPE)
endfunction()

# json_lines(<out list var> <text>): the non-empty lines of text (none may contain ';').
function(json_lines out text)
  string(REPLACE ";" "," text "${text}")  # a ';' would split a line in a CMake list
  string(REPLACE "\n" ";" lines "${text}")
  list(FILTER lines EXCLUDE REGEX "^[ \t]*$")
  set(${out} "${lines}" PARENT_SCOPE)
endfunction()

# check_row(<line> <context>): a JSON object with every key, and nothing else but "note" and
# "skipped"; sets row_<key> in the caller ("" for a missing key).
function(check_row line context)
  string(JSON row_type ERROR_VARIABLE json_error TYPE "${line}")
  if(json_error OR NOT row_type STREQUAL "OBJECT")
    fail("${context}: not a JSON object: ${line}")
  else()
    foreach(key IN LISTS keys ITEMS note skipped)
      string(JSON row_${key} ERROR_VARIABLE key_error GET "${line}" ${key})
      if(key_error)
        set(row_${key} "")
        if(NOT key STREQUAL "note" AND NOT key STREQUAL "skipped")
          fail("${context}: no key '${key}': ${line}")
        endif()
      endif()
    endforeach()
    string(JSON key_count LENGTH "${line}")
    set(expected_count 11)
    if(NOT row_note STREQUAL "")
      math(EXPR expected_count "${expected_count} + 1")
    endif()
    if(NOT row_skipped STREQUAL "")
      math(EXPR expected_count "${expected_count} + 1")
    endif()
    if(NOT key_count EQUAL expected_count)
      fail("${context}: ${key_count} keys, expected ${expected_count}: ${line}")
    endif()
  endif()
  foreach(key IN LISTS keys ITEMS note skipped)
    set(row_${key} "${row_${key}}" PARENT_SCOPE)
  endforeach()
  set(failures ${failures} PARENT_SCOPE)
endfunction()

# is_positive(<out var> <value>): true for a JSON number > 0.
function(is_positive out value)
  if(value MATCHES "^[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$" AND NOT value MATCHES "^0+(\\.0*)?$")
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# require_measured(<context>): the measured fields of the row just parsed (row_*) are numbers
# > 0. A macro, so fail() counts in the caller's scope, as if written there.
macro(require_measured context)
  foreach(key ns_per_msg ns_per_msg_min msgs_per_sec peak_rss_kb)
    is_positive(ok "${row_${key}}")
    if(NOT ok)
      fail("${context}: ${key} is '${row_${key}}', expected a number > 0")
    endif()
  endforeach()
endmacro()

if(MODE STREQUAL "rows")
  set(messages 200)
  # workload, producers, consumers, whether a capacity applies, whether it needs select
  set(cases
      "spsc 1 1 1 0" "mpsc 3 1 1 0" "mpmc 3 2 1 0" "select_rx 3 1 1 1"
      "select_both 3 2 1 1" "pingpong 1 1 0 0" "chain 1 1 0 0")
  foreach(case IN LISTS cases)
    string(REPLACE " " ";" case "${case}")
    list(GET case 0 workload)
    list(GET case 1 producers)
    list(GET case 2 consumers)
    list(GET case 3 uses_capacity)
    list(GET case 4 needs_select)
    set(capacities 0)
    if(uses_capacity)
      set(capacities 0 1 1024 unbounded)
    endif()
    set(flags)
    if(workload MATCHES "^(mpsc|mpmc|select_rx|select_both)$")
      list(APPEND flags --producers ${producers})
    endif()
    if(workload MATCHES "^(mpmc|select_both)$")
      list(APPEND flags --consumers ${consumers})
    endif()
    set(impls csp boost csp-pinned boost-pinned)
    list(JOIN impls "," impl_flag)
    foreach(threads 1 2)
      foreach(capacity IN LISTS capacities)
        set(context "${workload} capacity ${capacity} threads ${threads}")
        # --repeat 2: boost's work_stealing threads are set up once and reused by run 2.
        run_bench(out --workload ${workload} --capacity ${capacity} --threads ${threads}
                  --messages ${messages} --repeat 2 --format json --impl ${impl_flag} ${flags})
        json_lines(lines "${out}")
        list(LENGTH lines n)
        if(NOT n EQUAL 4)
          fail("${context}: ${n} lines, expected 4 (${impl_flag}):\n${out}")
          continue()
        endif()
        foreach(line impl IN ZIP_LISTS lines impls)
          check_row("${line}" "${context} ${impl}")
          set(capacity_json ${capacity})
          if(capacity STREQUAL "unbounded")
            set(capacity_json "unbounded")
          endif()
          foreach(pair "impl=${impl}" "workload=${workload}" "capacity=${capacity_json}"
                       "threads=${threads}" "producers=${producers}"
                       "consumers=${consumers}" "messages=${messages}")
            string(REPLACE "=" ";" pair "${pair}")
            list(GET pair 0 key)
            list(GET pair 1 want)
            if(NOT row_${key} STREQUAL want)
              fail("${context} ${impl}: ${key} is '${row_${key}}', expected '${want}'")
            endif()
          endforeach()
          set(should_skip FALSE)
          if(impl MATCHES "^boost" AND (needs_select OR capacity STREQUAL "unbounded"))
            set(should_skip TRUE)
          endif()
          # The row says which scheduler ran it: impl names the pinned kinds, and boost's
          # work_stealing rows (boost at threads > 1) say so in their note.
          set(ws_note FALSE)
          if(row_note MATCHES "work_stealing\\(${threads}\\)")
            set(ws_note TRUE)
          endif()
          set(want_ws FALSE)
          if(impl STREQUAL "boost" AND threads GREATER 1 AND NOT should_skip)
            set(want_ws TRUE)
          endif()
          if(NOT ws_note STREQUAL want_ws)
            fail("${context} ${impl}: work_stealing note is ${ws_note}, expected ${want_ws}: ${line}")
          endif()
          if(should_skip)
            if(row_skipped STREQUAL "")
              fail("${context} ${impl}: expected a skipped row: ${line}")
            endif()
          else()
            if(NOT row_skipped STREQUAL "")
              fail("${context} ${impl}: unexpectedly skipped: ${line}")
            endif()
            require_measured("${context} ${impl}")
          endif()
        endforeach()
      endforeach()
    endforeach()
  endforeach()

elseif(MODE STREQUAL "suite")
  # 7 workloads; 5 have 4 capacities, 2 have one: 22 capacity rows x 2 threads x 2 impls.
  set(expected_rows 88)
  run_bench(out --suite --messages 200 --repeat 1 --format json)
  json_lines(lines "${out}")
  list(LENGTH lines n)
  if(NOT n EQUAL expected_rows)
    fail("suite json: ${n} rows, expected ${expected_rows}:\n${out}")
  endif()
  foreach(line IN LISTS lines)
    check_row("${line}" "suite json")
    if(row_skipped STREQUAL "")
      is_positive(ok "${row_ns_per_msg}")
      if(NOT ok)
        fail("suite json: ns_per_msg is '${row_ns_per_msg}': ${line}")
      endif()
    endif()
  endforeach()

  run_bench(out --suite --messages 200 --repeat 1 --format csv --impl csp)
  json_lines(lines "${out}")
  list(LENGTH lines n)
  math(EXPR want "${expected_rows} / 2 + 1")
  if(NOT n EQUAL want)
    fail("suite csv --impl csp: ${n} lines, expected ${want} (header + rows):\n${out}")
  endif()
  list(GET lines 0 header)
  if(NOT header STREQUAL "impl,workload,capacity,threads,producers,consumers,messages,ns_per_msg,ns_per_msg_min,msgs_per_sec,peak_rss_kb,note,skipped")
    fail("suite csv: unexpected header '${header}'")
  endif()
  foreach(line IN LISTS lines)
    string(REGEX MATCHALL "," commas "${line}")
    list(LENGTH commas c)
    if(NOT c EQUAL 12 AND NOT line MATCHES "\"")
      fail("suite csv: ${c} commas, expected 12: ${line}")
    endif()
  endforeach()

  foreach(line IN LISTS lines)
    if(NOT line MATCHES "^(impl|csp|boost),")
      fail("suite csv: a row of another impl than csp: ${line}")
    endif()
  endforeach()

  run_bench(out --workload mpmc --messages 200 --repeat 2)
  if(NOT out MATCHES "impl +workload" OR NOT out MATCHES "\ncsp +mpmc" OR NOT out MATCHES "\nboost +mpmc")
    fail("table: unexpected output:\n${out}")
  endif()

  # In one process: boost's work_stealing threads (one set per process, Boost's static
  # state) serve every 2-thread boost row and repeat; the process must also end cleanly.
  run_bench(out --suite --in-process --impl boost,csp-pinned --messages 200 --repeat 2 --format json)
  json_lines(lines "${out}")
  list(LENGTH lines n)
  if(NOT n EQUAL expected_rows)
    fail("suite --in-process: ${n} rows, expected ${expected_rows}:\n${out}")
  endif()
  set(ws_rows 0)
  foreach(line IN LISTS lines)
    check_row("${line}" "suite --in-process")
    if(NOT row_impl MATCHES "^(boost|csp-pinned)$")
      fail("suite --in-process: unexpected impl '${row_impl}': ${line}")
    endif()
    if(row_note MATCHES "work_stealing")
      math(EXPR ws_rows "${ws_rows} + 1")
    endif()
  endforeach()
  # boost at 2 threads: spsc, mpsc, mpmc at capacities 0, 1, 1024, then pingpong and chain.
  if(NOT ws_rows EQUAL 11)
    fail("suite --in-process: ${ws_rows} work_stealing rows, expected 11:\n${out}")
  endif()

elseif(MODE STREQUAL "net")
  # 200 values: the smoke test checks the rows, not csp::net's behaviour under load.
  set(impls csp nng csp nng)
  set(workloads net net net_pingpong net_pingpong)
  set(capacities 64 64 1 1)
  foreach(threads 1 2)
    set(context "net threads ${threads}")
    run_bench(out --workload net --impl csp,nng --threads ${threads} --messages 200 --repeat 2
              --format json)
    json_lines(lines "${out}")
    list(LENGTH lines n)
    if(NOT n EQUAL 4)
      fail("${context}: ${n} lines, expected 4 (csp, nng x net, net_pingpong):\n${out}")
      continue()
    endif()
    foreach(line impl workload capacity IN ZIP_LISTS lines impls workloads capacities)
      check_row("${line}" "${context} ${impl} ${workload}")
      foreach(pair "impl=${impl}" "workload=${workload}" "capacity=${capacity}"
                   "threads=${threads}" "producers=1" "consumers=1" "messages=200")
        string(REPLACE "=" ";" pair "${pair}")
        list(GET pair 0 key)
        list(GET pair 1 want)
        if(NOT row_${key} STREQUAL want)
          fail("${context} ${impl} ${workload}: ${key} is '${row_${key}}', expected '${want}'")
        endif()
      endforeach()
      if(NOT row_skipped STREQUAL "")
        fail("${context} ${impl} ${workload}: unexpectedly skipped: ${line}")
      endif()
      require_measured("${context} ${impl} ${workload}")
    endforeach()
  endforeach()

  # The table, with the default impls of the net rows (csp, nng).
  run_bench(out --workload net --messages 200 --repeat 1)
  foreach(want "\ncsp +net +64 " "\nnng +net +64 " "\ncsp +net_pingpong +1 " "\nnng +net_pingpong +1 ")
    if(NOT out MATCHES "${want}")
      fail("net table: no row matching '${want}':\n${out}")
    endif()
  endforeach()

  # Impls without net rows, and nng outside them: skipped rows, exit status 0.
  run_bench(out --workload net --impl boost,csp-pinned,boost-pinned --messages 200 --repeat 1
            --format json)
  run_bench(more --workload spsc --impl nng --messages 200 --repeat 1 --format json)
  json_lines(lines "${out}\n${more}")
  list(LENGTH lines n)
  if(NOT n EQUAL 7)
    fail("net skipped rows: ${n} lines, expected 7:\n${out}\n${more}")
  endif()
  foreach(line IN LISTS lines)
    check_row("${line}" "net skipped rows")
    if(row_skipped STREQUAL "" OR NOT row_ns_per_msg STREQUAL "")
      fail("net skipped rows: expected a skipped row with null measurements: ${line}")
    endif()
  endforeach()

elseif(MODE STREQUAL "bad")
  # One command line per entry, arguments separated by spaces.
  set(bad_lines
      "--workload nope"
      "--workload spsc --capacity -1"
      "--workload spsc --capacity lots"
      "--workload spsc --threads 0"
      "--workload spsc --impl go"
      "--workload spsc --impl csp,nope"
      "--workload spsc --impl pinned"
      "--workload spsc --format xml"
      "--workload spsc --producers 2"
      "--workload mpsc --consumers 2"
      "--workload spsc --messages 0"
      "--suite --workload spsc"
      "--workload net --producers 2"
      "--workload net_pingpong --consumers 2"
      "--no-such-flag"
      "--repeat 1")
  foreach(line IN LISTS bad_lines)
    separate_arguments(args UNIX_COMMAND "${line}")
    execute_process(COMMAND ${CSP_BENCH} ${args}
                    OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr RESULT_VARIABLE rc)
    if(NOT rc MATCHES "^[0-9]+$" OR rc EQUAL 0)
      fail("csp-bench ${line}: exit status '${rc}', expected a non-zero exit code")
    elseif(stderr STREQUAL "")
      fail("csp-bench ${line}: no error message")
    endif()
  endforeach()
  execute_process(COMMAND ${CSP_BENCH} --help OUTPUT_VARIABLE stdout RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT stdout MATCHES "--workload")
    fail("csp-bench --help: exit status '${rc}'")
  endif()

else()
  message(FATAL_ERROR "MODE must be rows, suite, net or bad (got '${MODE}')")
endif()

if(failures GREATER 0)
  message(FATAL_ERROR "${failures} check(s) failed")
endif()
message(STATUS "csp-bench ${MODE}: all checks passed")
