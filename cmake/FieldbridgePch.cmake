# The headers nearly every test includes (GoogleTest, Boost.Asio, fmt, spdlog,
# the standard library), parsed once per build instead of once per file: they
# were a third of a test's compile time, and CI builds the tree twice (plain
# and sanitized). The test binaries reuse fieldbridge_test_pch
# (tests/CMakeLists.txt). The modules do not: with it, gcc 12 at -O2 inlines
# differently and warns (-Warray-bounds, a known false positive in
# std::string's memcpy) where it does not without.
#
# gcc only: the fuzz tree is built with clang, whose precompiled headers are
# stricter about flags, and gains little there (it builds two targets).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  set(fieldbridge_pch_default ON)
else()
  set(fieldbridge_pch_default OFF)
endif()
option(FIELDBRIDGE_PCH "Precompile the headers the tests share" ${fieldbridge_pch_default})

# fieldbridge_add_pch_target(<name> [HEADERS ...] [LIBS ...]): a target that owns
# a precompiled header of the common headers and HEADERS (include names
# without brackets: gtest/gtest.h), built with the project's flags.
function(fieldbridge_add_pch_target name)
  cmake_parse_arguments(ARG "" "" "HEADERS;LIBS" ${ARGN})
  add_library(${name} OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
  target_link_libraries(${name} PRIVATE Boost::headers spdlog::spdlog fmt::fmt ${ARG_LIBS})
  fieldbridge_target_defaults(${name})
  # <utility> first: Boost 1.74's awaitable.hpp uses std::exchange without it.
  set(headers utility string string_view vector map memory optional functional chrono
    boost/asio.hpp fmt/format.h spdlog/spdlog.h ${ARG_HEADERS})
  # C++ only (a target may have C sources, such as generated code), so each
  # header is "<name>" behind a language condition; $<ANGLE-R> is the ">".
  list(TRANSFORM headers REPLACE "^(.+)$" "$<$<COMPILE_LANGUAGE:CXX>:<\\1$<ANGLE-R>>")
  target_precompile_headers(${name} PRIVATE ${headers})
endfunction()
