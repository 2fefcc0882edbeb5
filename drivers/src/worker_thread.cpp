#include "fieldbridge/drivers/worker_thread.hpp"

#include <exception>
#include <system_error>

namespace fieldbridge::drivers {

namespace {

// As with std::thread, an exception leaving the body ends the process.
extern "C" void* run_body(void* body) {
  try {
    (*static_cast<std::function<void()>*>(body))();
  } catch (...) {
    std::terminate();
  }
  return nullptr;
}

}  // namespace

worker_thread::~worker_thread() { join(); }

void worker_thread::start(std::function<void()> body, std::size_t stack_size) {
  if (running_) return;
  body_ = std::make_unique<std::function<void()>>(std::move(body));
  pthread_attr_t attr;
  int rc = ::pthread_attr_init(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start a bus worker");
  rc = ::pthread_attr_setstacksize(&attr, stack_size);
  if (rc == 0) rc = ::pthread_create(&handle_, &attr, &run_body, body_.get());
  ::pthread_attr_destroy(&attr);
  if (rc != 0) throw std::system_error(rc, std::generic_category(), "cannot start a bus worker");
  running_ = true;
}

void worker_thread::join() {
  if (!running_) return;
  ::pthread_join(handle_, nullptr);
  running_ = false;
  body_.reset();
}

}  // namespace fieldbridge::drivers
