// The two parts of systemd's service protocol that `fieldbridge run` uses:
// the state datagram of sd_notify(3) ("READY=1", "WATCHDOG=1",
// "RELOADING=1", "STOPPING=1") sent to $NOTIFY_SOCKET, and the watchdog period of
// sd_watchdog_enabled(3) read from $WATCHDOG_USEC and $WATCHDOG_PID.
//
// Written here rather than linked from libsystemd: for these two calls
// libsystemd loaded five more libraries (libgcrypt, libgpg-error, liblzma,
// libzstd, liblz4) and about 1 MiB of resident pages into the daemon
// (docs/performance.md). sd_notify(3) documents the protocol as stable
// and meant to be reimplemented.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace fieldbridge::gateway {

// Sends `state` (newline-separated VAR=value lines) to the service manager.
// False when not started by one ($NOTIFY_SOCKET unset), when the socket
// address is of a kind not supported here (only paths and '@' abstract
// names are), or when the send failed; a daemon goes on either way.
bool notify_service_manager(std::string_view state);

// The state that opens a reload: "RELOADING=1" and the CLOCK_MONOTONIC time
// it began, "MONOTONIC_USEC=<µs>", which systemd 253 and later require
// with RELOADING=1 (Type=notify-reload) and older ones ignore. READY=1
// closes it. `monotonic_now` is for tests; by default the clock is read.
std::string reloading_state(std::chrono::microseconds monotonic_now);
std::string reloading_state();

// The watchdog period systemd expects WATCHDOG=1 within, or 0 when the
// watchdog is off or meant for another process ($WATCHDOG_PID).
std::chrono::microseconds service_watchdog_period();

}  // namespace fieldbridge::gateway
