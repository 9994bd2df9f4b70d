# `cmake --install`: libcassnn.a, the public headers (everything under
# include/: what is internal lives beside its module in src/) and cassnn.pc.
#
# The library is static, so what it links privately (oneDNN, libgomp) and
# the libraries its code calls must reach the embedder's link line:
# `pkg-config --static --libs cassnn`. They are listed as plain -l flags in
# Libs.private, not as Requires.private: every one of them is a shared
# library on the embedder's machine, and Requires.private would make
# pkg-config --static also ask for their own private dependencies (libcurl's
# nghttp2, rtmp, ssh2, ... whose -dev packages a user need not have).
include(GNUInstallDirs)

# -lNAME for a library given as a path (or a bare name), -L for a folder the
# linker does not search by itself.
function(cassnn_pc_flags out)
  set(flags "")
  foreach(lib ${ARGN})
    if(lib MATCHES "^-")
      list(APPEND flags "${lib}")
    elseif(IS_ABSOLUTE "${lib}")
      get_filename_component(dir "${lib}" DIRECTORY)
      get_filename_component(file "${lib}" NAME)
      string(REGEX REPLACE "^lib" "" name "${file}")
      string(REGEX REPLACE "\\.(so|a)(\\.[0-9]+)*$" "" name "${name}")
      if(NOT dir IN_LIST CMAKE_C_IMPLICIT_LINK_DIRECTORIES)
        list(APPEND flags "-L${dir}")
      endif()
      list(APPEND flags "-l${name}")
    else()
      list(APPEND flags "-l${lib}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES flags)
  string(JOIN " " joined ${flags})
  set(${out} "${joined}" PARENT_SCOPE)
endfunction()

cassnn_pc_flags(CASSNN_PC_LIBS_PRIVATE
  ${CURL_LINK_LIBRARIES} ${MHD_LINK_LIBRARIES} ${JANSSON_LINK_LIBRARIES} ${LZ4_LINK_LIBRARIES} ${PNG_LIBRARIES}
  ${ZLIB_LIBRARIES} ${OPENSSL_SSL_LIBRARY} ${OPENSSL_CRYPTO_LIBRARY} ${DNNL_LIBRARY}
  ${GOMP_LIBRARY} -pthread m)
# The prefix relative to the .pc file itself, so that the file stays right
# wherever `cmake --install --prefix DIR` puts the tree.
file(RELATIVE_PATH CASSNN_PC_PREFIX_FROM_PCDIR /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" CASSNN_PC_PREFIX_FROM_PCDIR "${CASSNN_PC_PREFIX_FROM_PCDIR}")
configure_file(${PROJECT_SOURCE_DIR}/cmake/cassnn.pc.in ${PROJECT_BINARY_DIR}/cassnn.pc @ONLY)

install(TARGETS cassnn ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${PROJECT_BINARY_DIR}/cassnn.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
