#include "fieldbridge/drivers/serial_line.hpp"

#include <mutex>
#include <stdexcept>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/serial_port.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <fmt/format.h>

namespace fieldbridge::drivers {

line_parser::line_parser(std::vector<point_spec> points) : points_(std::move(points)) {
  patterns_.reserve(points_.size());
  for (const point_spec& point : points_) {
    try {
      patterns_.emplace_back(point.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw std::invalid_argument(fmt::format("point {}: bad pattern '{}': {}", point.name, point.pattern, e.what()));
    }
    if (patterns_.back().mark_count() < 1) {
      throw std::invalid_argument(fmt::format("point {}: pattern '{}' has no capture group", point.name, point.pattern));
    }
  }
}

std::vector<line_parser::match> line_parser::parse(std::string_view line) const {
  std::vector<match> out;
  for (std::size_t i = 0; i < points_.size(); ++i) {
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_search(line.begin(), line.end(), m, patterns_[i]) || !m[1].matched) continue;
    const point_spec& point = points_[i];
    const std::string text = m[1].str();
    if (point.format.type == value_type::string) {
      out.push_back(match{i, apply_transform(decoded{point_value{text}, quality::good, {}}, point)});
      continue;
    }
    const parsed value = parse_value(text, point.format);
    if (!value.ok()) {
      out.push_back(match{i, decoded{point_value{0.0}, quality::bad, value.error}});
      continue;
    }
    // Through the codec: the text is the raw value; encoding it unscaled and
    // decoding with the point's format converts the type, checks its range
    // and applies scale/offset exactly as for a register.
    point_spec raw = point;
    raw.table = register_table::holding_register;
    raw.format.scale = 1.0;
    raw.format.offset = 0.0;
    raw.format.bit.reset();
    raw.min.reset();
    raw.max.reset();
    const encoded words = encode(value.value, raw);
    if (!words.ok()) {
      out.push_back(match{i, decoded{point_value{0.0}, quality::bad, words.error}});
      continue;
    }
    register_format format = point.format;
    format.bit.reset();
    out.push_back(match{i, apply_transform(decode(words.words, format), point)});
  }
  return out;
}

// A sensor line longer than this is noise (or a wrong baud rate printing
// garbage without delimiters): it is dropped and counted, so neither the
// buffer nor std::regex's recursion grows without bound.
constexpr std::size_t max_line_length = 4096;

struct serial_line_bus::state : std::enable_shared_from_this<serial_line_bus::state> {
  state(bus_spec s, boost::asio::any_io_executor executor, bus_handlers h, logger_ptr l,
        backoff_policy policy)
      : spec(std::move(s)),
        port_settings(std::get<serial_line_port>(spec.link)),
        device_name(spec.devices.empty() ? spec.name : spec.devices.front().name),
        parser(spec.devices.empty() ? std::vector<point_spec>{} : spec.devices.front().points),
        executor_(executor),
        handlers(std::move(h)),
        logger(std::move(l)),
        port(executor),
        timer(executor),
        silence_timer(executor),
        buffer(max_line_length),
        retry(policy) {}

  bus_spec spec;
  serial_line_port port_settings;
  std::string device_name;
  line_parser parser;
  boost::asio::any_io_executor executor_;
  bus_handlers handlers;
  logger_ptr logger;
  boost::asio::serial_port port;
  boost::asio::steady_timer timer;
  boost::asio::steady_timer silence_timer;  // silence_timeout: no matching line for that long
  boost::asio::streambuf buffer;
  backoff retry;
  bool running = false;
  std::optional<bool> reported;
  mutable std::mutex counters_mutex;
  device_counters counters;

  void set_status(bool online, std::string reason) {
    {
      std::lock_guard lock(counters_mutex);
      counters.online = online;
    }
    if (reported == online) return;
    reported = online;
    if (handlers.on_status) {
      boost::asio::post(executor_, [h = handlers.on_status,
                                    e = device_status_event{spec.name, device_name, online, std::move(reason)}]() mutable {
        h(std::move(e));
      });
    }
  }

  void open() {
    if (!running) return;
    boost::system::error_code ec;
    port.open(port_settings.device, ec);
    if (!ec) configure();
    if (ec) {
      port.close(ec);
      return reopen_later(fmt::format("cannot open {}: {}", port_settings.device, ec.message()));
    }
    logger->info("bus {}: {} open", spec.name, port_settings.device);
    retry.reset();
    set_status(true, {});
    buffer.consume(buffer.size());
    watch_silence();
    read_next();
  }

  // (Re)arms the silence deadline: a sensor that prints nothing matching
  // for silence_timeout is offline while its port stays open.
  void watch_silence() {
    if (spec.silence_timeout.count() <= 0) return;
    silence_timer.expires_after(spec.silence_timeout);
    silence_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || !self->running || !self->port.is_open()) return;
      const auto reason = fmt::format("no matching line for {} ms", self->spec.silence_timeout.count());
      self->logger->warn("bus {}: {}", self->spec.name, reason);
      self->set_status(false, reason);
    });
  }

  void configure() {
    using boost::asio::serial_port_base;
    // A pty ignores some of these; a real adapter needs them all. Failures
    // are logged, not fatal: the line may still deliver text.
    const auto apply = [&](const auto& option) {
      boost::system::error_code ec;
      port.set_option(option, ec);
      if (ec) logger->debug("bus {}: serial option not applied: {}", spec.name, ec.message());
    };
    apply(serial_port_base::baud_rate(port_settings.baud));
    apply(serial_port_base::character_size(port_settings.data_bits));
    apply(serial_port_base::parity(port_settings.parity == 'E'   ? serial_port_base::parity::even
                                   : port_settings.parity == 'O' ? serial_port_base::parity::odd
                                                                 : serial_port_base::parity::none));
    apply(serial_port_base::stop_bits(port_settings.stop_bits == 2 ? serial_port_base::stop_bits::two
                                                                   : serial_port_base::stop_bits::one));
    apply(serial_port_base::flow_control(serial_port_base::flow_control::none));
  }

  void reopen_later(std::string reason) {
    silence_timer.cancel();
    const auto delay = retry.next();
    logger->warn("bus {}: {} (retry in {} ms)", spec.name, reason, delay.count());
    set_status(false, std::move(reason));
    timer.expires_after(delay);
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->open();
    });
  }

  void read_next() {
    const std::string& delimiter = port_settings.delimiter.empty() ? "\n" : port_settings.delimiter;
    boost::asio::async_read_until(
        port, buffer, delimiter,
        [self = shared_from_this(), size = delimiter.size()](const boost::system::error_code& ec, std::size_t n) {
          if (!self->running) return;
          if (ec == boost::asio::error::not_found) return self->drop_overlong_line();
          if (ec) {
            boost::system::error_code ignored;
            self->port.close(ignored);
            return self->reopen_later(fmt::format("{} lost: {}", self->port_settings.device, ec.message()));
          }
          const auto data = self->buffer.data();
          std::string line(boost::asio::buffers_begin(data), boost::asio::buffers_begin(data) + static_cast<std::ptrdiff_t>(n - size));
          self->buffer.consume(n);
          self->handle_line(line);
          self->read_next();
        });
  }

  void drop_overlong_line() {
    logger->debug("bus {}: dropped {} bytes without a delimiter", spec.name, buffer.size());
    buffer.consume(buffer.size());
    {
      std::lock_guard lock(counters_mutex);
      ++counters.unmatched;
    }
    read_next();
  }

  void handle_line(std::string_view line) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto matches = parser.parse(line);
    const auto ts = wall_clock::now();
    std::vector<reading> readings;
    readings.reserve(matches.size());
    device_counters delta;
    for (const auto& m : matches) {
      (m.value.good() ? delta.good : delta.bad) += 1;
      readings.push_back(reading{device_name, parser.points()[m.point].name, m.value.value, m.value.q,
                                 m.value.error, ts});
    }
    {
      std::lock_guard lock(counters_mutex);
      ++counters.polls;
      counters.good += delta.good;
      counters.bad += delta.bad;
      if (matches.empty()) ++counters.unmatched;
    }
    if (matches.empty()) {
      logger->debug("bus {}: line matches no point: '{}'", spec.name, line);
      return;
    }
    // The status goes out before the readings it explains.
    if (reported == false) logger->info("bus {}: {} speaks again", spec.name, device_name);
    set_status(true, {});
    watch_silence();
    // Posted like the status, so the two arrive in the order they were made.
    if (handlers.on_readings) {
      boost::asio::post(executor_, [h = handlers.on_readings, r = std::move(readings)]() mutable { h(std::move(r)); });
    }
  }
};

serial_line_bus::serial_line_bus(bus_spec spec, boost::asio::any_io_executor executor,
                                 bus_handlers handlers, logger_ptr logger, backoff_policy policy) {
  if (!std::holds_alternative<serial_line_port>(spec.link)) {
    throw std::invalid_argument("bus " + spec.name + " is not a serial_line bus");
  }
  state_ = std::make_shared<state>(std::move(spec), std::move(executor), std::move(handlers),
                                   std::move(logger), policy);
}

serial_line_bus::~serial_line_bus() { stop(); }

void serial_line_bus::start() {
  if (state_->running) return;
  state_->running = true;
  state_->open();
}

void serial_line_bus::stop() {
  if (!state_->running) return;
  state_->running = false;
  state_->timer.cancel();
  state_->silence_timer.cancel();
  boost::system::error_code ignored;
  state_->port.close(ignored);
}

void serial_line_bus::write(std::string_view, std::string_view point, point_value, write_handler handler) {
  if (!handler) return;
  boost::asio::post(state_->executor_, [handler = std::move(handler), name = std::string(point)] {
    handler(write_result{false, {}, "point '" + name + "' is a text-line sensor and is read-only"});
  });
}

std::vector<std::pair<std::string, device_counters>> serial_line_bus::counters() const {
  std::lock_guard lock(state_->counters_mutex);
  return {{state_->device_name, state_->counters}};
}

const bus_spec& serial_line_bus::spec() const noexcept { return state_->spec; }

// The bus runs on the main loop, which has no worker of its own to get
// stuck: whoever can ask is proof that the loop turns.
std::chrono::steady_clock::time_point serial_line_bus::last_progress() const noexcept {
  return std::chrono::steady_clock::now();
}

}  // namespace fieldbridge::drivers
