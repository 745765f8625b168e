# The warning set every target compiles with; -Werror unless WERROR is OFF.
set(FS_WARNINGS -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
    -Wvla -Wpointer-arith -Wcast-qual -Wundef -Wnull-dereference -Wimplicit-fallthrough)
if(WERROR)
  list(APPEND FS_WARNINGS -Werror)
endif()
add_compile_options(${FS_WARNINGS})
add_compile_definitions(_GNU_SOURCE)
if(CMAKE_BUILD_TYPE MATCHES "Rel")
  add_compile_definitions(_FORTIFY_SOURCE=2)
endif()
add_link_options(-Wl,-z,now -Wl,-z,relro -Wl,-z,noexecstack)
