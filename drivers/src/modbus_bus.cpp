#include "fieldbridge/drivers/modbus_bus.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include <boost/asio/post.hpp>

#include "fieldbridge/drivers/codec.hpp"
#include "fieldbridge/drivers/modbus_link.hpp"
#include "fieldbridge/drivers/planner.hpp"

namespace fieldbridge::drivers {

using steady = std::chrono::steady_clock;

namespace {

std::uint8_t unit_of(const device_spec& device) { return device.unit; }

reading bad_reading(const device_spec& device, const point_spec& point, const std::string& error,
                    wall_clock::time_point ts) {
  return reading{device.name, point.name, point_value{0.0}, quality::bad, error, ts};
}

reading make_reading(const device_spec& device, const point_spec& point, decoded value,
                     wall_clock::time_point ts) {
  return reading{device.name, point.name, std::move(value.value), value.q, std::move(value.error), ts};
}

// The words of `point` inside a block read from `block_address`.
std::span<const std::uint16_t> slice(const std::vector<std::uint16_t>& words,
                                     std::uint16_t block_address, const point_spec& point) {
  const std::size_t offset = point.address - block_address;
  if (offset >= words.size()) return {};
  return std::span<const std::uint16_t>(words).subspan(offset);
}

std::uint16_t span_count(const point_spec& point) {
  if (point.format.bit || point.table == register_table::coil ||
      point.table == register_table::discrete_input) {
    return 1;
  }
  return std::max<std::uint16_t>(1, register_count(point.format));
}

// A failure that says the device (or the path to it) did not answer, as
// opposed to an exception from a device that is alive.
bool is_silence(const boost::system::error_code& ec) {
  return ec && (!is_exception(ec) || ec == modbus_errc::gateway_path_unavailable ||
                ec == modbus_errc::gateway_target_failed);
}

}  // namespace

// The worker thread: its loop and the state only it touches. The link is
// opened only through ensure_link, so every reopen honours the back-off.
struct modbus_bus::worker {
  struct device_state {
    const device_spec* spec = nullptr;
    request_planner planner;
    steady::time_point next_poll;
    std::uint32_t failures = 0;       // consecutive failed polls
    std::optional<bool> reported;     // the last status posted
    backoff offline_backoff;
  };

  worker(modbus_bus& owner, backoff_policy policy, planning mode)
      : bus(owner), link(owner.spec_.link, timeouts_of(owner.spec_)), link_backoff(policy, seed(0)) {
    devices.reserve(owner.spec_.devices.size());
    for (const device_spec& device : owner.spec_.devices) {
      devices.push_back(device_state{&device, request_planner(device, mode), {}, 0, std::nullopt,
                                     backoff(policy, seed(devices.size() + 1))});
    }
  }

  void run();
  boost::system::error_code ensure_link();
  void note_link_failure(const boost::system::error_code& ec);
  void poll_device(std::size_t index);
  void write_point(write_job& job);
  void report_status(device_state& device, bool online, std::string reason);
  void post_readings(std::vector<reading> readings);
  // Before a poll: waits while the loop has max_unhandled_readings or more
  // of this bus's readings still to handle (or until stop).
  void wait_for_loop();
  void stamp_progress() noexcept {
    bus.progress_.store(steady::now().time_since_epoch().count(), std::memory_order_relaxed);
  }
  bool stopping() const noexcept { return bus.stop_requested_.load(std::memory_order_relaxed); }

  // Different buses and devices draw different jitter.
  std::uint64_t seed(std::size_t salt) const noexcept {
    return static_cast<std::uint64_t>(steady::now().time_since_epoch().count()) ^
           (reinterpret_cast<std::uintptr_t>(this) + salt * 0x9E3779B97F4A7C15ULL);
  }

  modbus_bus& bus;
  modbus_link link;
  backoff link_backoff;
  steady::time_point link_retry_at{};
  std::vector<device_state> devices;
};

namespace {

void count_error(device_counters& c, const boost::system::error_code& ec) {
  if (is_timeout(ec)) {
    ++c.timeouts;
  } else if (is_exception(ec)) {
    ++c.exceptions;
  } else {
    ++c.errors;
  }
}

// The longest the worker sleeps without stamping its progress.
constexpr auto progress_tick = std::chrono::seconds{1};

}  // namespace

struct modbus_bus::unhandled {
  std::mutex mutex;
  std::condition_variable handled;
  std::size_t readings = 0;
};

modbus_bus::modbus_bus(bus_spec spec, boost::asio::any_io_executor executor, bus_handlers handlers,
                       logger_ptr logger, backoff_policy policy, planning mode)
    : spec_(std::move(spec)),
      executor_(std::move(executor)),
      handlers_(std::move(handlers)),
      logger_(std::move(logger)),
      policy_(policy),
      counters_(spec_.devices.size()) {
  worker_ = std::make_unique<worker>(*this, policy, mode);
  unhandled_ = std::make_shared<unhandled>();
  progress_.store(steady::now().time_since_epoch().count());
}

modbus_bus::~modbus_bus() { stop(); }

void modbus_bus::start() {
  if (thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = false;
    running_ = true;
  }
  stop_requested_ = false;
  worker_->stamp_progress();
  // Spread the devices over their interval so their requests do not bunch.
  const auto now = steady::now();
  const auto n = static_cast<std::int64_t>(std::max<std::size_t>(1, worker_->devices.size()));
  for (std::size_t i = 0; i < worker_->devices.size(); ++i) {
    auto& device = worker_->devices[i];
    device.next_poll = now + device.spec->poll_interval * static_cast<std::int64_t>(i) / n;
  }
  thread_.start([this] { worker_->run(); });
}

void modbus_bus::request_stop() noexcept {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    running_ = false;
  }
  stop_requested_ = true;
  wake_.notify_all();
  // Under its mutex, so a worker about to wait for the loop sees the flag.
  std::lock_guard lock(unhandled_->mutex);
  unhandled_->handled.notify_all();
}

void modbus_bus::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
  std::deque<write_job> abandoned;
  {
    std::lock_guard lock(mutex_);
    abandoned.swap(writes_);
  }
  for (auto& job : abandoned) {
    post_result(std::move(job.handler), write_result{false, {}, "the bus stopped"});
  }
  worker_->link.close();
}

void modbus_bus::post_result(write_handler handler, write_result result) {
  if (!handler) return;
  boost::asio::post(executor_, [handler = std::move(handler), result = std::move(result)]() mutable {
    handler(std::move(result));
  });
}

void modbus_bus::write(std::string_view device, std::string_view point, point_value value,
                       write_handler handler) {
  const auto fail = [&](std::string error) {
    post_result(std::move(handler), write_result{false, {}, std::move(error)});
  };
  const auto d = std::find_if(spec_.devices.begin(), spec_.devices.end(),
                              [&](const device_spec& s) { return s.name == device; });
  if (d == spec_.devices.end()) return fail(fmt::format("no device '{}' on bus '{}'", device, spec_.name));
  const auto p = std::find_if(d->points.begin(), d->points.end(),
                              [&](const point_spec& s) { return s.name == point; });
  if (p == d->points.end()) return fail(fmt::format("no point '{}' on device '{}'", point, device));
  if (std::string error = check_write(*p, value); !error.empty()) return fail(std::move(error));
  // The bus writes what the registers hold: a mapped point's string as its number.
  value = invert_transform(value, *p).value;
  {
    std::lock_guard lock(mutex_);
    if (!running_) {
      // Fall through to the failure below, outside the lock.
    } else {
      writes_.push_back(write_job{static_cast<std::size_t>(d - spec_.devices.begin()),
                                  static_cast<std::size_t>(p - d->points.begin()), std::move(value),
                                  std::move(handler)});
      wake_.notify_all();
      return;
    }
  }
  fail("the bus is not running");
}

steady::time_point modbus_bus::last_progress() const noexcept {
  return steady::time_point{steady::duration{progress_.load(std::memory_order_relaxed)}};
}

std::vector<std::pair<std::string, device_counters>> modbus_bus::counters() const {
  std::vector<std::pair<std::string, device_counters>> out;
  std::lock_guard lock(mutex_);
  out.reserve(counters_.size());
  for (std::size_t i = 0; i < counters_.size(); ++i) out.emplace_back(spec_.devices[i].name, counters_[i]);
  return out;
}


// Opens the link unless it is in back-off; the error says why not.
boost::system::error_code modbus_bus::worker::ensure_link() {
  if (link.is_open()) return {};
  if (steady::now() < link_retry_at) return modbus_errc::not_connected;
  if (auto ec = link.open()) {
    const auto delay = link_backoff.next();
    link_retry_at = steady::now() + delay;
    bus.logger_->warn("bus {}: cannot open the link: {} (retry in {} ms)", bus.spec_.name, ec.message(),
                      delay.count());
    return ec;
  }
  if (link_backoff.failed_attempts() != 0) bus.logger_->info("bus {}: link open again", bus.spec_.name);
  link_backoff.reset();
  return {};
}

void modbus_bus::worker::note_link_failure(const boost::system::error_code& ec) {
  if (!is_link_failure(ec)) return;
  // The next request reopens at once (TCP devices that drop idle
  // connections are common); only a failing reopen backs off.
  link.close();
  bus.logger_->warn("bus {}: link failed: {}; reopening", bus.spec_.name, ec.message());
}

void modbus_bus::worker::report_status(device_state& device, bool online, std::string reason) {
  if (device.reported == online) return;
  device.reported = online;
  if (online) {
    bus.logger_->info("bus {}: device {} online", bus.spec_.name, device.spec->name);
  } else {
    bus.logger_->warn("bus {}: device {} offline: {}", bus.spec_.name, device.spec->name, reason);
  }
  if (bus.handlers_.on_status) {
    boost::asio::post(bus.executor_, [h = bus.handlers_.on_status,
                                      e = device_status_event{bus.spec_.name, device.spec->name, online,
                                                              std::move(reason)}]() mutable {
      h(std::move(e));
    });
  }
}

void modbus_bus::worker::post_readings(std::vector<reading> readings) {
  if (!bus.handlers_.on_readings || readings.empty()) return;
  const std::size_t n = readings.size();
  {
    std::lock_guard lock(bus.unhandled_->mutex);
    bus.unhandled_->readings += n;
  }
  boost::asio::post(bus.executor_, [h = bus.handlers_.on_readings, r = std::move(readings), n,
                                    u = bus.unhandled_]() mutable {
    h(std::move(r));
    std::lock_guard lock(u->mutex);
    const bool was_full = u->readings >= max_unhandled_readings;
    u->readings -= n;
    if (was_full && u->readings < max_unhandled_readings) u->handled.notify_all();
  });
}

void modbus_bus::worker::wait_for_loop() {
  std::unique_lock lock(bus.unhandled_->mutex);
  while (bus.unhandled_->readings >= max_unhandled_readings && !stopping()) {
    bus.unhandled_->handled.wait_for(lock, progress_tick);
    stamp_progress();
  }
}

void modbus_bus::worker::poll_device(std::size_t index) {
  auto& device = devices[index];
  const device_spec& spec = *device.spec;
  const auto ts = wall_clock::now();
  const std::uint64_t requests_before = link.requests();
  device_counters delta;
  delta.polls = 1;
  std::vector<reading> readings;
  readings.reserve(spec.points.size());
  bool answered = false;
  boost::system::error_code failure;

  if (const auto link_ec = ensure_link()) {
    failure = link_ec;
    ++delta.errors;
  }
  std::vector<std::uint16_t> words;
  std::size_t blocks_done = 0;  // blocks whose points have a reading
  for (std::size_t b = 0; !failure && b < device.planner.blocks().size();) {
    // Between requests: a stop does not wait for the rest of the cycle,
    // but what was read is delivered (a reload stops buses that go on
    // running without a gap elsewhere: a value read is a value kept).
    if (stopping()) {
      post_readings(std::move(readings));
      return;
    }
    stamp_progress();
    const read_block block = device.planner.blocks()[b];
    const auto ec = link.read(unit_of(spec), block.table, block.address, block.count, words);
    if (ec == modbus_errc::illegal_data_address && device.planner.split(b) > 1) {
      bus.logger_->info("bus {}: device {} rejects the read of {} {}+{}; reading it point by point",
                        bus.spec_.name, spec.name, to_string(block.table), block.address, block.count);
      continue;  // the same index now holds the first part
    }
    if (!ec) {
      answered = true;
      for (const std::size_t p : block.points) {
        const point_spec& point = spec.points[p];
        readings.push_back(make_reading(spec, point, decode_point(slice(words, block.address, point), point), ts));
      }
    } else {
      count_error(delta, ec);
      if (!is_silence(ec)) answered = true;
      for (const std::size_t p : block.points) {
        readings.push_back(bad_reading(spec, spec.points[p], ec.message(), ts));
      }
      if (is_timeout(ec) || is_link_failure(ec)) {
        // A silent device costs one time-out per cycle, not one per block.
        failure = ec;
        note_link_failure(ec);
      }
    }
    blocks_done = ++b;
  }
  if (failure) {
    // Points not read yet in this cycle share the failure.
    for (std::size_t b = blocks_done; b < device.planner.blocks().size(); ++b) {
      for (const std::size_t p : device.planner.blocks()[b].points) {
        readings.push_back(bad_reading(spec, spec.points[p], failure.message(), ts));
      }
    }
  }
  for (const reading& r : readings) (r.q == quality::good ? delta.good : delta.bad) += 1;
  delta.requests = link.requests() - requests_before;
  {
    std::lock_guard lock(bus.mutex_);
    device_counters& c = bus.counters_[index];
    c.polls += delta.polls;
    c.good += delta.good;
    c.bad += delta.bad;
    c.timeouts += delta.timeouts;
    c.exceptions += delta.exceptions;
    c.errors += delta.errors;
    c.requests += delta.requests;
    if (answered) {
      c.online = true;
      c.round_trip = link.last_round_trip();
    } else if (device.failures + 1 >= spec.offline_after_failures) {
      c.online = false;
    }
  }
  // The status goes out before the readings it explains.
  device.failures = answered ? 0 : device.failures + 1;
  const bool offline = device.failures >= spec.offline_after_failures;
  if (answered) {
    device.offline_backoff.reset();
    report_status(device, true, {});
  } else if (offline) {
    report_status(device, false, failure ? failure.message() : "no answer");
  }
  post_readings(std::move(readings));

  const auto now = steady::now();
  if (offline) {
    // Offline: poll with back-off, so a dead device costs at most one
    // time-out per back-off period.
    device.next_poll = now + std::max(device.offline_backoff.next(), spec.poll_interval);
    return;
  }
  // Drift-free: the next deadline follows the previous one, not `now`; a
  // cycle that overran skips the deadlines already missed.
  device.next_poll += spec.poll_interval;
  if (device.next_poll <= now && spec.poll_interval.count() > 0) {
    const auto missed = (now - device.next_poll) / spec.poll_interval + 1;
    device.next_poll += spec.poll_interval * missed;
  }
}

void modbus_bus::worker::write_point(write_job& job) {
  const device_spec& spec = bus.spec_.devices[job.device];
  const point_spec& point = spec.points[job.point];
  write_result result;
  std::vector<std::uint16_t> words;
  const auto read_point = [&]() {
    return link.read(unit_of(spec), point.table, point.address, span_count(point), words);
  };
  boost::system::error_code ec = ensure_link();
  std::optional<std::uint16_t> current;
  if (!ec && point.format.bit) {
    ec = read_point();  // read-modify-write of one bit
    if (!ec) current = words.at(0);
  }
  encoded data;
  if (!ec) {
    data = encode(job.value, point, current);
    if (!data.ok()) result.error = data.error;
  }
  if (!ec && data.ok()) {
    ec = link.write(unit_of(spec), point.table, point.address, data.words, spec.force_multiple_write);
    if (!ec) {
      ec = read_point();
      if (!ec) {
        decoded back = decode_point(words, point);
        result.ok = back.good();
        result.value = back.value;
        if (!back.good()) result.error = "read back: " + back.error;
        post_readings({make_reading(spec, point, std::move(back), wall_clock::now())});
      } else {
        result.error = "written, but the read-back failed: " + ec.message();
      }
    }
  }
  if (ec && result.error.empty()) result.error = ec.message();
  if (ec) {
    note_link_failure(ec);
    std::lock_guard lock(bus.mutex_);
    count_error(bus.counters_[job.device], ec);
  }
  bus.logger_->info("bus {}: write {}/{} = {} (raw): {}", bus.spec_.name, spec.name, point.name, to_text(job.value),
                    result.ok ? "ok" : result.error);
  bus.post_result(std::move(job.handler), std::move(result));
}

// Writes first, then the device whose poll is due; sleeps on the condition
// variable until the next deadline or a write, never longer than
// progress_tick, stamping its progress on every turn.
void modbus_bus::worker::run() {
  std::unique_lock lock(bus.mutex_);
  while (!bus.stopping_) {
    stamp_progress();
    const auto woken = [&] { return bus.stopping_ || !bus.writes_.empty(); };
    if (!bus.writes_.empty()) {
      write_job job = std::move(bus.writes_.front());
      bus.writes_.pop_front();
      lock.unlock();
      write_point(job);
      lock.lock();
      continue;
    }
    const auto now = steady::now();
    if (devices.empty()) {
      bus.wake_.wait_until(lock, now + progress_tick, woken);
      continue;
    }
    const auto next = std::min_element(devices.begin(), devices.end(), [](const auto& a, const auto& b) {
      return a.next_poll < b.next_poll;
    });
    if (next->next_poll > now) {
      bus.wake_.wait_until(lock, std::min(next->next_poll, now + progress_tick), woken);
      continue;
    }
    lock.unlock();
    wait_for_loop();
    poll_device(static_cast<std::size_t>(next - devices.begin()));
    lock.lock();
  }
}

}  // namespace fieldbridge::drivers
