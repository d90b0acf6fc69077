# SPDX-License-Identifier: MIT
# SeamInstall.cmake - what an installed seam needs to be found and run from
# any prefix: relative run paths, and pkg-config files whose prefix is the
# one given at install time (`cmake --install build --prefix P`), not the
# one configured.
include_guard(GLOBAL)
include(GNUInstallDirs)

option(SEAM_INSTALL_RPATH "Installed libraries and the tool find seam's libraries relative to themselves ($ORIGIN)" ON)

# The library directory as seen from the binary directory, e.g. ../lib.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_BINDIR}")
  set(SEAM_BIN_TO_LIB "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(SEAM_RPATH_LIB "${CMAKE_INSTALL_FULL_LIBDIR}")
else()
  file(RELATIVE_PATH SEAM_BIN_TO_LIB /p/${CMAKE_INSTALL_BINDIR} /p/${CMAKE_INSTALL_LIBDIR})
  set(SEAM_BIN_TO_LIB "$ORIGIN/${SEAM_BIN_TO_LIB}")
  set(SEAM_RPATH_LIB "$ORIGIN")
endif()

# seam_install_rpath(target): a library finds its siblings (an adapter finds
# libseam) beside itself; an executable finds them in ../lib. Appends, so
# a toolchain directory added by INSTALL_RPATH_USE_LINK_PATH is kept.
function(seam_install_rpath target)
  if(NOT SEAM_INSTALL_RPATH OR APPLE)
    return()
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    set_property(TARGET ${target} APPEND PROPERTY INSTALL_RPATH "${SEAM_BIN_TO_LIB}")
  else()
    set_property(TARGET ${target} APPEND PROPERTY INSTALL_RPATH "${SEAM_RPATH_LIB}")
  endif()
endfunction()

# seam__pc_link_flags(out libs...): link flags for full library paths and
# -l names; CMake targets are left out (their pkg-config module goes into
# Requires instead). A library outside the linker's default directories
# also gets a run path, as CMake gives its own users.
function(seam__pc_link_flags out)
  set(flags "")
  foreach(lib ${ARGN})
    if(lib MATCHES "::" OR TARGET ${lib})
      continue()
    elseif(IS_ABSOLUTE "${lib}")
      get_filename_component(dir "${lib}" DIRECTORY)
      get_filename_component(base "${lib}" NAME_WE)
      string(REGEX REPLACE "^lib" "" base "${base}")
      list(FIND CMAKE_C_IMPLICIT_LINK_DIRECTORIES "${dir}" implicit)
      if(implicit LESS 0)
        string(APPEND flags " -L${dir} -Wl,-rpath,${dir}")
      endif()
      string(APPEND flags " -l${base}")
    elseif(lib MATCHES "^-")
      string(APPEND flags " ${lib}")
    else()
      string(APPEND flags " -l${lib}")
    endif()
  endforeach()
  set(${out} "${flags}" PARENT_SCOPE)
endfunction()

# seam_install_pc(NAME DESCRIPTION REQUIRES LIBS [DEPLIBS] [INCLUDES] [CFLAGS]
#                 [LIBS_PRIVATE] [REQUIRES_PRIVATE]): writes NAME.pc into
# the library directory at install time, with prefix set to the install
# prefix of that moment. CFLAGS may name ${includedir}.
function(seam_install_pc name description requires libs)
  cmake_parse_arguments(P "" "" "DEPLIBS;INCLUDES;CFLAGS;LIBS_PRIVATE;REQUIRES_PRIVATE" ${ARGN})
  seam__pc_link_flags(deplibs ${P_DEPLIBS})
  set(cflags "-I\${includedir}")
  foreach(dir ${P_INCLUDES})
    list(FIND CMAKE_C_IMPLICIT_INCLUDE_DIRECTORIES "${dir}" implicit)
    if(implicit LESS 0)
      string(APPEND cflags " -I${dir}")
    endif()
  endforeach()
  foreach(flag ${P_CFLAGS})
    string(APPEND cflags " ${flag}")
  endforeach()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(libdir "${CMAKE_INSTALL_LIBDIR}")
  else()
    set(libdir "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  endif()
  if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(includedir "${CMAKE_INSTALL_INCLUDEDIR}")
  else()
    set(includedir "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
  string(JOIN "\n" text
         "prefix=@SEAM_PC_PREFIX@"
         "libdir=${libdir}"
         "includedir=${includedir}"
         ""
         "Name: ${name}"
         "Description: ${description}"
         "Version: ${PROJECT_VERSION}")
  if(requires)
    string(APPEND text "\nRequires: ${requires}")
  endif()
  if(P_REQUIRES_PRIVATE)
    string(APPEND text "\nRequires.private: ${P_REQUIRES_PRIVATE}")
  endif()
  string(APPEND text "\nLibs: -L\${libdir} ${libs}${deplibs}")
  if(P_LIBS_PRIVATE)
    string(APPEND text "\nLibs.private: ${P_LIBS_PRIVATE}")
  endif()
  string(APPEND text "\nCflags: ${cflags}\n")
  set(template ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc.in)
  set(out ${PROJECT_BINARY_DIR}/pkgconfig/${name}.pc)
  file(WRITE ${template} "${text}")
  install(CODE "set(SEAM_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
configure_file(\"${template}\" \"${out}\" @ONLY)" COMPONENT dev)
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)
endfunction()
