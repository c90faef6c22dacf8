# Builds and runs a consumer project of csp; driven by CTest (cmake -P), see CMakeLists.txt.
#   MODE=install : `cmake --install` csp's build tree into WORK_DIR/prefix, then build
#                  consumer/ with find_package(csp) against that prefix only.
#   MODE=subdir  : build subdir/, which does add_subdirectory(CSP_SOURCE_DIR).
# Inputs (-D): MODE, CSP_SOURCE_DIR, CSP_BINARY_DIR (install), WORK_DIR, GENERATOR,
#              MAKE_PROGRAM, CXX_COMPILER, BUILD_TYPE.
cmake_minimum_required(VERSION 3.20)

foreach(var MODE CSP_SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

# Runs a command, echoing it; stops the test with its output on failure.
function(step what)
  message(STATUS "[${MODE}] ${what}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${MODE}] ${what} failed (${rc})")
  endif()
endfunction()

# Start from nothing, so a header or file that is no longer installed cannot linger.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(configure_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
  list(APPEND configure_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(BUILD_TYPE)
  list(APPEND configure_args "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}")
endif()

set(test_dir "${CMAKE_CURRENT_LIST_DIR}")
if(MODE STREQUAL "install")
  if(NOT CSP_BINARY_DIR)
    message(FATAL_ERROR "run_consumer.cmake: MODE=install needs -DCSP_BINARY_DIR=...")
  endif()
  set(prefix "${WORK_DIR}/prefix")
  step("install csp" "${CMAKE_COMMAND}" --install "${CSP_BINARY_DIR}" --prefix "${prefix}")

  # The package must be complete on its own: every public header of the source tree
  # installed under include/csp/, and a config file where find_package looks.
  file(GLOB_RECURSE source_headers RELATIVE "${CSP_SOURCE_DIR}"
       "${CSP_SOURCE_DIR}/*/include/csp/*.hpp")
  set(missing)
  foreach(header IN LISTS source_headers)
    string(REGEX REPLACE "^[^/]+/include/" "" relative "${header}")
    if(NOT EXISTS "${prefix}/include/${relative}")
      list(APPEND missing "${header}")
    endif()
  endforeach()
  if(missing)
    message(FATAL_ERROR "[install] headers not installed under ${prefix}/include: ${missing}")
  endif()
  file(GLOB_RECURSE config_files "${prefix}/*/cspConfig.cmake")
  if(NOT config_files)
    message(FATAL_ERROR "[install] no cspConfig.cmake under ${prefix}")
  endif()

  # Only the prefix: no package registry, no build tree of csp.
  step("configure consumer" "${CMAKE_COMMAND}" -S "${test_dir}/consumer" -B "${WORK_DIR}/build"
       ${configure_args} "-DCMAKE_PREFIX_PATH=${prefix}"
       -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
  file(STRINGS "${WORK_DIR}/build/CMakeCache.txt" csp_dir_line REGEX "^csp_DIR:")
  string(REGEX REPLACE "^csp_DIR:[A-Z]+=" "" csp_dir "${csp_dir_line}")
  file(REAL_PATH "${csp_dir}" csp_dir)
  file(REAL_PATH "${prefix}" real_prefix)
  string(FIND "${csp_dir}" "${real_prefix}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "[install] the consumer found csp in '${csp_dir}', not under ${prefix}")
  endif()
  message(STATUS "[install] csp_DIR=${csp_dir}")
elseif(MODE STREQUAL "subdir")
  step("configure consumer" "${CMAKE_COMMAND}" -S "${test_dir}/subdir" -B "${WORK_DIR}/build"
       ${configure_args} "-DCSP_SOURCE_DIR=${CSP_SOURCE_DIR}")
else()
  message(FATAL_ERROR "run_consumer.cmake: unknown MODE '${MODE}' (install or subdir)")
endif()

step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/build")
step("run consumer" "${WORK_DIR}/build/app")
if(MODE STREQUAL "install")
  # csp was built with csp::net (NNG and cereal are required at top level): the installed
  # package must carry it, and a program on it must work.
  if(NOT EXISTS "${WORK_DIR}/build/net_app")
    message(FATAL_ERROR "[install] the installed package has no csp::net target")
  endif()
  step("run net consumer" "${WORK_DIR}/build/net_app")
endif()
message(STATUS "[${MODE}] consumer built and ran against csp: ok")
