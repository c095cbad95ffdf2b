# One place for compiler warnings; applied per target with gpumod_warnings(<target>).
function(gpumod_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
    -Wnon-virtual-dtor -Wno-missing-field-initializers)
endfunction()
