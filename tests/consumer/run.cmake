# ctest driver: install the built library into a scratch prefix, build the
# consumer project against it, run it on the tiny Llama fixture, and compare
# its greedy tokens with the first 5 that transformers produced
# (tests/data/models/llama/reference.json); then the same with the installed
# gpt-demo program.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()
run(${CMAKE_COMMAND} --install ${GPT_BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
file(READ ${TEST_DATA_DIR}/models/llama/reference.json ref)
string(JSON n_prompt LENGTH "${ref}" tokens)
set(prompt)
math(EXPR last "${n_prompt} - 1")
foreach(i RANGE ${last})
  string(JSON t GET "${ref}" tokens ${i})
  list(APPEND prompt ${t})
endforeach()
set(expected "")
foreach(i RANGE 4)
  string(JSON t GET "${ref}" greedy ${i})
  string(APPEND expected "${t} ")
endforeach()
string(STRIP "${expected}" expected)
run(${WORK_DIR}/build/consumer ${TEST_DATA_DIR}/models/llama ${prompt})
string(STRIP "${last_output}" tokens)
if(NOT tokens STREQUAL expected)
  message(FATAL_ERROR "consumer printed '${tokens}', transformers' greedy tokens are '${expected}'")
endif()
message(STATUS "consumer generated: ${tokens}")

# The installed programs run from the prefix (they find libgpt through their
# RPATH, $ORIGIN/../lib) and give the same greedy tokens.
run(${WORK_DIR}/prefix/bin/gpt-demo -m ${TEST_DATA_DIR}/models/llama -n 5 ${prompt})
string(STRIP "${last_output}" tokens)
if(NOT tokens STREQUAL expected)
  message(FATAL_ERROR "installed gpt-demo printed '${tokens}', transformers' greedy tokens are '${expected}'")
endif()
foreach(tool gpt-generate gpt-tokenize gpt-bench)
  run(${WORK_DIR}/prefix/bin/${tool} --help)
endforeach()
message(STATUS "installed gpt-demo generated: ${tokens}")
