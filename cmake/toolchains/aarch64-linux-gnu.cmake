# Cross build for 64-bit ARM (Raspberry Pi OS 64-bit, arm64 Debian) on an
# amd64 Debian 12 host: cmake -S . -B build-arm64 \
#   -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
# scripts/package.sh arm64 installs what it needs and does this.
set(FIELDBRIDGE_CROSS_TRIPLET aarch64-linux-gnu)
set(FIELDBRIDGE_CROSS_PROCESSOR aarch64)
set(FIELDBRIDGE_CROSS_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
