// A joinable thread with a chosen stack size, for the bus workers.
// std::thread cannot set one (its stacks are glibc's default, 8 MiB of
// address space each); this starts the thread with pthread attributes.
#pragma once

#include <pthread.h>

#include <cstddef>
#include <functional>
#include <memory>

namespace fieldbridge::drivers {

// A bus worker's stack: its deepest path is a libmodbus request (a 260-byte
// frame buffer), getaddrinfo when a TCP link (re)opens, and a log line;
// measured at 8 to 16 KiB resident (/proc/PID/smaps at 10k readings/s).
// Sanitized builds need several times more per frame.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr std::size_t worker_stack_size = 4 * 1024 * 1024;
#else
inline constexpr std::size_t worker_stack_size = 256 * 1024;
#endif

class worker_thread {
 public:
  worker_thread() = default;
  ~worker_thread();  // joins a thread still running
  worker_thread(const worker_thread&) = delete;
  worker_thread& operator=(const worker_thread&) = delete;

  // Runs `body` on a new thread with a stack of `stack_size` bytes. Throws
  // std::system_error when the thread cannot be created.
  void start(std::function<void()> body, std::size_t stack_size = worker_stack_size);
  bool joinable() const noexcept { return running_; }
  void join();

 private:
  pthread_t handle_{};
  bool running_ = false;
  std::unique_ptr<std::function<void()>> body_;
};

}  // namespace fieldbridge::drivers
