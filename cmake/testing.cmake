# Test helpers shared by every module's tests.
#
# cassnn_unit_test(NAME SOURCES...)  pure code, no server; label "unit".
# cassnn_db_test(NAME SOURCES...)    talks to the Cassandra node at
#   $CASSNN_HOST (default 127.0.0.1:9042); label "db". A db test must FAIL,
#   never skip, when the node is not there.
# Both link libcassnn and cmocka, and run from the build directory with
# CASSNN_SOURCE_DIR pointing at the source tree (for fixtures).

function(_cassnn_test NAME LABEL)
  add_executable(${NAME} ${ARGN})
  target_link_libraries(${NAME} PRIVATE cassnn PkgConfig::CMOCKA)
  target_include_directories(${NAME} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  add_test(NAME ${NAME} COMMAND ${NAME})
  set_tests_properties(${NAME} PROPERTIES LABELS ${LABEL}
    ENVIRONMENT "CASSNN_SOURCE_DIR=${PROJECT_SOURCE_DIR};CASSNN_BINARY_DIR=${PROJECT_BINARY_DIR}")
endfunction()

function(cassnn_unit_test NAME)
  _cassnn_test(${NAME} unit ${ARGN})
endfunction()

function(cassnn_db_test NAME)
  _cassnn_test(${NAME} db ${ARGN})
  set_tests_properties(${NAME} PROPERTIES RESOURCE_LOCK cassandra TIMEOUT 900)
endfunction()

# cassnn_slow_test(NAME SOURCES...)  pure code that runs long (e.g. training
#   on the full MNIST); label "slow", run only in the optimised build.
function(cassnn_slow_test NAME)
  _cassnn_test(${NAME} slow ${ARGN})
  set_tests_properties(${NAME} PROPERTIES TIMEOUT 1200)
endfunction()

# cassnn_db_slow_test(NAME SOURCES...)  needs the node and runs long (e.g.
#   ingesting and training on the full MNIST); labels "db;slow".
function(cassnn_db_slow_test NAME)
  _cassnn_test(${NAME} db ${ARGN})
  set_tests_properties(${NAME} PROPERTIES LABELS "db;slow" RESOURCE_LOCK cassandra TIMEOUT 1800)
endfunction()

# cassnn_tsan(NAMES...)  adds the label "tsan" to tests already registered:
#   the concurrent code (the cql session, the cluster tests) that the
#   ThreadSanitizer build (CASSNN_TSAN, scripts/build --tsan) runs. Target
#   tsan-tests builds just them.
if(NOT TARGET tsan-tests)
  add_custom_target(tsan-tests)
endif()
#   In that build the tests (and the `cassnn` processes they start) read
#   tests/tsan.supp: reports from inside uninstrumented libraries only.
function(cassnn_tsan)
  foreach(name ${ARGN})
    set_property(TEST ${name} APPEND PROPERTY LABELS tsan)
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT
                 "TSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/tsan.supp")
    add_dependencies(tsan-tests ${name})
  endforeach()
endfunction()
