# Precompiled headers for the heavy header-only libraries (nlohmann/json, CLI11, cpp-httplib,
# GoogleTest), per target: parsed once per target instead of once per source file. Cold builds
# measured in bench/results/build-*.txt. -DGPUMOD_PCH=OFF turns them off.
option(GPUMOD_PCH "Precompile the heavy library headers per target" ON)

# gpumod_precompile(<target> <header>...): the headers as system includes, e.g. <nlohmann/json.hpp>.
function(gpumod_precompile target)
  if(GPUMOD_PCH)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()

# ccache caches compilations that use a precompiled header only with this sloppiness (its manual,
# "Precompiled headers"); CMake passes the header with -include, which ccache needs too.
if(GPUMOD_PCH AND CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${CCACHE_PROGRAM})
endif()
