# fieldbridge_target_defaults(<target> [PCH_FROM <pch target>]): the one place
# that sets the language level, warnings and sanitizer flags, so every module
# builds the same way; PCH_FROM: reuse that target's precompiled header.
function(fieldbridge_target_defaults target)
  cmake_parse_arguments(ARG "" "PCH_FROM" "" ${ARGN})
  target_compile_features(${target} PRIVATE cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Wunused -Woverloaded-virtual
    -Wimplicit-fallthrough)
  if(FIELDBRIDGE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  if(FIELDBRIDGE_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
      -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(FIELDBRIDGE_PCH AND ARG_PCH_FROM)
    fieldbridge_use_pch(${target} ${ARG_PCH_FROM})
  endif()
endfunction()

# A precompiled header is valid only where the macros its headers look at are
# defined as when it was built (gcc's -Winvalid-pch, an error with -Werror, says
# which one differs): a target that reuses one links what defines them.
#
# gcc 12 does not keep `#pragma GCC diagnostic` in a precompiled header, so the
# warnings libstdc++ turns off around its own memcpy (array-bounds, stringop-*:
# false positives at -O2 in std::string) come back in every file that uses it;
# they stay on for the modules, which do not use a precompiled header, and
# ASan checks the tests' bounds at run time.
function(fieldbridge_use_pch target pch_target)
  target_link_libraries(${target} PRIVATE Boost::headers spdlog::spdlog)
  target_precompile_headers(${target} REUSE_FROM ${pch_target})
  target_compile_options(${target} PRIVATE -Wno-array-bounds -Wno-stringop-overflow -Wno-stringop-overread)
endfunction()
