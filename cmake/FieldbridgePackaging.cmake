# The Debian package: `cpack -G DEB` in a build tree, or scripts/package.sh,
# which also cross-builds for arm64 and armhf and checks the result.
# The version is project()'s, with a Debian revision (changelog.Debian needs
# one); the architecture is the target's, not the build machine's.
set(FIELDBRIDGE_DEB_RELEASE 1 CACHE STRING "Debian revision of the package version")
set(FIELDBRIDGE_DEB_VERSION "${PROJECT_VERSION}-${FIELDBRIDGE_DEB_RELEASE}")

if(CMAKE_LIBRARY_ARCHITECTURE STREQUAL "aarch64-linux-gnu")
  set(FIELDBRIDGE_DEB_ARCH arm64)
elseif(CMAKE_LIBRARY_ARCHITECTURE STREQUAL "arm-linux-gnueabihf")
  set(FIELDBRIDGE_DEB_ARCH armhf)
elseif(CMAKE_LIBRARY_ARCHITECTURE STREQUAL "x86_64-linux-gnu")
  set(FIELDBRIDGE_DEB_ARCH amd64)
else()
  execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE FIELDBRIDGE_DEB_ARCH
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_CONTACT "fieldbridge maintainers <maintainers@fieldbridge.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "gateway from Modbus and serial field devices to MQTT")
# CPack puts the summary first itself: the description is only the long part.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "fieldbridge polls Modbus devices (RTU over RS-485/RS-232 serial lines,
Modbus TCP) and serial sensors that print text lines, keeps every reading in
a durable SQLite store-and-forward queue, and publishes the readings to an
MQTT broker (3.1.1 or 5, optionally over TLS) at the QoS the configuration
sets. Commands published to .../set topics become device writes.
.
The package has the fieldbridge binary (gateway, configuration check,
commissioning tools and a Modbus device simulator), a hardened systemd unit,
the reference configuration and the documentation.")
set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_DEBIAN_PACKAGE_RELEASE "${FIELDBRIDGE_DEB_RELEASE}")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${FIELDBRIDGE_DEB_ARCH}")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
# dpkg-shlibdeps: scripts/package.sh sets DEB_HOST_ARCH so a cross-built tree
# gets the target's library packages.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Besides the libraries: the unit's ExecReload= runs /bin/kill.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

# Maintainer scripts (deb-systemd-helper, as dh_installsystemd writes them)
# and the conffiles list: everything the package puts in /etc.
set(FIELDBRIDGE_DEB_DIR ${PROJECT_SOURCE_DIR}/packaging/deb)
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles
     "${FIELDBRIDGE_CONFIG_DIR}/fieldbridge.example.yaml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${FIELDBRIDGE_DEB_DIR}/postinst ${FIELDBRIDGE_DEB_DIR}/prerm ${FIELDBRIDGE_DEB_DIR}/postrm
  ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# copyright, changelog.Debian.gz and fieldbridge(1), compressed as Debian
# wants them (gzip -9n: no name or time stamp, the same bytes every build).
string(TIMESTAMP FIELDBRIDGE_DEB_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
set(FIELDBRIDGE_VERSION "${PROJECT_VERSION}")
configure_file(${FIELDBRIDGE_DEB_DIR}/changelog.in ${PROJECT_BINARY_DIR}/packaging/changelog.Debian @ONLY)
configure_file(${PROJECT_SOURCE_DIR}/packaging/fieldbridge.1 ${PROJECT_BINARY_DIR}/packaging/fieldbridge.1 @ONLY)
find_program(FIELDBRIDGE_GZIP gzip REQUIRED)
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz ${PROJECT_BINARY_DIR}/packaging/fieldbridge.1.gz
  COMMAND ${FIELDBRIDGE_GZIP} -9nkf ${PROJECT_BINARY_DIR}/packaging/changelog.Debian
  COMMAND ${FIELDBRIDGE_GZIP} -9nkf ${PROJECT_BINARY_DIR}/packaging/fieldbridge.1
  DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.Debian ${PROJECT_BINARY_DIR}/packaging/fieldbridge.1
  COMMENT "Compressing the man page and changelog.Debian")
add_custom_target(fieldbridge_package_docs ALL
  DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz ${PROJECT_BINARY_DIR}/packaging/fieldbridge.1.gz)

install(FILES ${PROJECT_BINARY_DIR}/packaging/fieldbridge.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${FIELDBRIDGE_DEB_DIR}/copyright ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${FIELDBRIDGE_DEB_DIR}/lintian-overrides DESTINATION share/lintian/overrides
        RENAME fieldbridge)

include(CPack)
