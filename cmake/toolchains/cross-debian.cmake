# Shared part of the Debian multiarch cross toolchains: the target's
# libraries and CMake packages are the `:<arch>` -dev packages installed beside
# the amd64 ones (dpkg --add-architecture), so there is no sysroot; CMake only
# has to look in /usr/lib/<triplet> instead of the host's directory.
# Included by aarch64-linux-gnu.cmake and arm-linux-gnueabihf.cmake after they
# set FIELDBRIDGE_CROSS_TRIPLET, FIELDBRIDGE_CROSS_PROCESSOR and
# FIELDBRIDGE_CROSS_QEMU.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${FIELDBRIDGE_CROSS_PROCESSOR})
set(CMAKE_LIBRARY_ARCHITECTURE ${FIELDBRIDGE_CROSS_TRIPLET})

set(CMAKE_C_COMPILER ${FIELDBRIDGE_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${FIELDBRIDGE_CROSS_TRIPLET}-g++)

# pkg-config (libmodbus, systemd's unit dir) reads the target's .pc
# files only (Debian 12 has no <triplet>-pkg-config wrapper without dpkg-cross).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${FIELDBRIDGE_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")

# Debian packages that are not Multi-Arch: same (libyaml-cpp-dev) cannot be
# installed for two architectures at once; scripts/package.sh extracts the
# target's copy into a directory of the build tree and names it here. It is
# searched before /usr.
if(FIELDBRIDGE_CROSS_EXTRA_PREFIX)
  list(PREPEND CMAKE_PREFIX_PATH ${FIELDBRIDGE_CROSS_EXTRA_PREFIX})
endif()

# Libraries and packages only from the target's directories; programs (qemu,
# systemd-analyze, mosquitto for the tests) from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)

# ctest and gtest_discover_tests run the test binaries under qemu-user.
find_program(FIELDBRIDGE_CROSS_QEMU_PATH NAMES ${FIELDBRIDGE_CROSS_QEMU}-static ${FIELDBRIDGE_CROSS_QEMU})
if(FIELDBRIDGE_CROSS_QEMU_PATH)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FIELDBRIDGE_CROSS_QEMU_PATH})
endif()
