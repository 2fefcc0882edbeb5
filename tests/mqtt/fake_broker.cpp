#include "fake_broker.hpp"

#include <boost/asio/write.hpp>
#include <stdexcept>

namespace fieldbridge::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

fake_connection::fake_connection(asio::io_context& io, tcp::socket socket, int index)
    : io_(io), socket_(std::move(socket)), index_(index), read_buffer_(4096) {}

void fake_connection::start(std::function<void(fake_connection&, const mqtt::packet&)> script) {
  script_ = std::move(script);
  read();
}

void fake_connection::read() {
  socket_.async_read_some(asio::buffer(read_buffer_), [this](boost::system::error_code ec, std::size_t size) {
    if (ec) {
      if (ec != asio::error::operation_aborted) closed_by_peer_ = true;
      boost::system::error_code ignored;
      socket_.close(ignored);
      return;
    }
    decoder_.feed({read_buffer_.data(), size});
    mqtt::packet packet;
    for (;;) {
      const auto status = decoder_.next(packet);
      if (status == mqtt::decoder::status::need_more) break;
      if (status == mqtt::decoder::status::failed) {
        throw std::runtime_error("fake broker: the client sent a malformed packet: " +
                                 decoder_.error().message());
      }
      if (const auto* connect = std::get_if<mqtt::connect_packet>(&packet)) {
        version_ = connect->version;
        decoder_.set_version(version_);
      }
      received_.push_back(packet);
      if (script_) script_(*this, received_.back());
      if (!socket_.is_open()) return;
    }
    read();
  });
}

void fake_connection::later(std::chrono::milliseconds delay, std::function<void()> action) {
  if (delay.count() <= 0) {
    action();
    return;
  }
  auto& timer = timers_.emplace_back(std::make_unique<asio::steady_timer>(io_, delay));
  timer->async_wait([action = std::move(action)](boost::system::error_code ec) {
    if (!ec) action();
  });
}

void fake_connection::send(const mqtt::packet& packet, std::chrono::milliseconds delay) {
  std::vector<std::uint8_t> bytes;
  if (auto ec = mqtt::encode(packet, version_, bytes)) {
    throw std::runtime_error("fake broker: cannot encode " + std::string(mqtt::packet_name(mqtt::type_of(packet))) +
                             ": " + ec.message());
  }
  send_raw(std::move(bytes), delay);
}

void fake_connection::send_raw(std::vector<std::uint8_t> bytes, std::chrono::milliseconds delay) {
  later(delay, [this, bytes = std::move(bytes)]() mutable {
    if (!socket_.is_open()) return;
    write_queue_.push_back(std::move(bytes));
    write_next();
  });
}

void fake_connection::close(std::chrono::milliseconds delay) {
  later(delay, [this] {
    if (writing_) {
      close_after_write_ = true;
      return;
    }
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  });
}

void fake_connection::shutdown() {
  for (auto& timer : timers_) timer->cancel();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

void fake_connection::write_next() {
  if (writing_ || write_queue_.empty()) return;
  writing_ = true;
  auto bytes = std::make_shared<std::vector<std::uint8_t>>(std::move(write_queue_.front()));
  write_queue_.erase(write_queue_.begin());
  asio::async_write(socket_, asio::buffer(*bytes), [this, bytes](boost::system::error_code ec, std::size_t) {
    writing_ = false;
    if (ec) return;
    if (write_queue_.empty() && close_after_write_) {
      close_after_write_ = false;
      close();
      return;
    }
    write_next();
  });
}

fake_broker::fake_broker(asio::io_context& io, script on_packet)
    : io_(io), acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
      port_(acceptor_.local_endpoint().port()), script_(std::move(on_packet)) {
  accept();
}

void fake_broker::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;
    const int index = static_cast<int>(connections_.size());
    auto& connection = connections_.emplace_back(std::make_unique<fake_connection>(io_, std::move(socket), index));
    connection->start(script_);
    accept();
  });
}

void fake_broker::shutdown() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& connection : connections_) connection->shutdown();
}

bool run_until(asio::io_context& io, const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_until(deadline);
  }
  return true;
}

mqtt::connack_packet connack(bool session_present, mqtt::reason_code code) {
  mqtt::connack_packet packet;
  packet.session_present = session_present;
  packet.code = code;
  return packet;
}

}  // namespace fieldbridge::test
