# Runs CMD with ARGS (a ;-list), optionally feeding STDIN (a file), and fails unless it exits
# with EXIT and its standard output matches every regex in MATCH (a ;-list).
# csp_example_test escapes the lists' semicolons so that add_test keeps each -D as one
# argument; the backslashes arrive here literally: turn them back into list separators.
string(REPLACE "\\;" ";" ARGS "${ARGS}")
string(REPLACE "\\;" ";" MATCH "${MATCH}")
set(input_args "")
if(STDIN)
  set(input_args INPUT_FILE "${STDIN}")
endif()
execute_process(COMMAND "${CMD}" ${ARGS} ${input_args}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(err)
  message("stderr:\n${err}")
endif()
if(NOT "${rc}" STREQUAL "${EXIT}")
  message(FATAL_ERROR "${CMD} exited with ${rc}, expected ${EXIT}")
endif()
foreach(re IN LISTS MATCH)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "output does not match: ${re}")
  endif()
endforeach()
