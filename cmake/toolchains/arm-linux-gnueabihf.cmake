# Cross build for 32-bit ARM hard-float (Raspberry Pi OS 32-bit, armhf Debian:
# ARMv7 + VFPv3-D16, as Debian's gcc targets by default) on an amd64 Debian 12
# host: cmake -S . -B build-armhf \
#   -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-linux-gnueabihf.cmake
# scripts/package.sh armhf installs what it needs and does this.
set(FIELDBRIDGE_CROSS_TRIPLET arm-linux-gnueabihf)
set(FIELDBRIDGE_CROSS_PROCESSOR armv7l)
set(FIELDBRIDGE_CROSS_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
