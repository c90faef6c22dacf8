# Checks that pipeline's summary line adds up: every item a stage passed on reached the next
# stage, and the sink's checksum is what the generators sent.
#   -DCMD=<pipeline> -DARGS=<a;b;...>  runs it (killed after 10 s) and expects exit status 0, or
#   -DOUTPUT=<file>                     checks a run's saved standard output (sigint_check.sh)
# Optional: -DITEMS=n (generated must be n, and the checksum the sum of x*x for the even
# x < n), -DSTOPPED_BY=none|timeout|SIGINT|SIGTERM.
if(DEFINED OUTPUT)
  file(READ "${OUTPUT}" out)
else()
  string(REPLACE "\\;" ";" ARGS "${ARGS}")
  execute_process(COMMAND "${CMD}" ${ARGS} TIMEOUT 10
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message("${out}")
  if(err)
    message("stderr:\n${err}")
  endif()
  if(NOT rc STREQUAL "0")
    message(FATAL_ERROR "${CMD} ${ARGS} exited with '${rc}', expected 0")
  endif()
endif()

if(NOT out MATCHES "(^|\n)(summary: [^\n]*)\n$")
  message(FATAL_ERROR "no summary line at the end of the output:\n${out}")
endif()
set(summary "${CMAKE_MATCH_2}")
foreach(key generated transform_in transformed filter_in passed dropped sunk checksum expected)
  if(NOT summary MATCHES " ${key}=([0-9]+)( |$)")
    message(FATAL_ERROR "summary has no ${key}=<number>: ${summary}")
  endif()
  set(${key} "${CMAKE_MATCH_1}")
endforeach()
if(NOT summary MATCHES " stopped_by=([A-Za-z]+)( |$)")
  message(FATAL_ERROR "summary has no stopped_by=: ${summary}")
endif()
set(stopped_by "${CMAKE_MATCH_1}")

# Numbers compared as strings: the checksum may not fit CMake's signed 64-bit math.
macro(expect_equal a b what)
  if(NOT "${a}" STREQUAL "${b}")
    message(FATAL_ERROR "${what}: ${a} != ${b}\n${summary}")
  endif()
endmacro()
expect_equal("${transform_in}" "${generated}" "transform took in != generated")
expect_equal("${transformed}" "${transform_in}" "transform passed on != took in")
expect_equal("${filter_in}" "${transformed}" "filter took in != transformed")
math(EXPR filter_out "${passed} + ${dropped}")
expect_equal("${filter_out}" "${filter_in}" "passed + dropped != filter took in")
expect_equal("${sunk}" "${passed}" "sunk != passed")
expect_equal("${checksum}" "${expected}" "the sink's checksum != what the generators sent")
if(generated EQUAL 0)
  message(FATAL_ERROR "nothing was generated: ${summary}")
endif()

if(DEFINED ITEMS)
  expect_equal("${generated}" "${ITEMS}" "generated != --items")
  # The even x < ITEMS are 2k for k < m = ceil(ITEMS / 2): the sum of their squares is
  # 4 (m-1) m (2m-1) / 6.
  math(EXPR m "(${ITEMS} + 1) / 2")
  math(EXPR formula "4 * ((${m} - 1) * ${m} * (2 * ${m} - 1) / 6)")
  expect_equal("${checksum}" "${formula}" "checksum != the sum of x*x over the even x < ${ITEMS}")
  expect_equal("${passed}" "${m}" "passed != the number of even x < ${ITEMS}")
endif()
if(DEFINED STOPPED_BY)
  expect_equal("${stopped_by}" "${STOPPED_BY}" "stopped_by")
endif()
message(STATUS "counts add up: generated=${generated} passed=${passed} dropped=${dropped} "
               "sunk=${sunk} checksum=${checksum} stopped_by=${stopped_by}")
