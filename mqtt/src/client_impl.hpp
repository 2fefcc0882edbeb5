// The client's inside: the pure session plus the Asio parts that move its
// bytes and fire its timers. Split by operation over three sources:
//   client.cpp      the public API and the dispatch of session events
//   connect_op.cpp  open TCP/TLS, the connect timeout, reconnect with back-off
//   stream_ops.cpp  the read loop, the write queue, the session's deadline timer
// Single-threaded (the client's io_context); every handler holds a
// shared_ptr to the impl and checks the connection generation it started
// on, so a completion for an old connection is ignored.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "fieldbridge/mqtt/backoff.hpp"
#include "fieldbridge/mqtt/client.hpp"
#include "fieldbridge/mqtt/session.hpp"
#include "transport.hpp"

namespace fieldbridge::mqtt {

// Builds the session's CONNECT settings from the client's options.
session_config make_session_config(const client_options& options);

class client::impl : public std::enable_shared_from_this<impl> {
 public:
  impl(boost::asio::io_context& io, client_options options, logger_ptr logger);

  // --- connect_op.cpp ---
  void start();
  void connect_attempt();
  void on_open(std::uint64_t generation, boost::system::error_code ec, const std::string& detail);
  void schedule_reconnect();
  // After a failed attempt or a lost connection: the next broker of the list.
  void next_broker();

  // --- stream_ops.cpp ---
  void read_some(std::uint64_t generation);
  void flush();  // starts a write of everything the session queued, unless one is in flight
  void on_written(std::uint64_t generation, boost::system::error_code ec);
  void arm_session_timer();
  void arm_write_timer();
  void cancel_timers();  // every timer, e.g. once stopped
  // The connection is over: tell the session, fail what waited on it, and
  // reconnect unless stopping. `detail` is the reason in words.
  void connection_lost(boost::system::error_code ec, std::string detail);
  void close_transport();

  // --- client.cpp ---
  void pump();  // dispatches session events, then writes and re-arms
  void post_pump();
  void dispatch(session_event& event);
  void complete_publish(message_token token, const publish_result& result);
  void complete_request(message_token token, boost::system::error_code error, std::vector<reason_code> codes,
                        const properties& props);  // SUBACK / UNSUBACK / failure
  void log_restored_subscriptions(const subscriptions_restored_event& e);
  void report_down(boost::system::error_code ec, std::string detail);
  void note_server_reference(const std::string& reference);
  // Handlers are called through a copy of their shared_ptr, so the owner may
  // replace them, or destroy the client, from inside one.
  template <class... Args>
  void call_hook(std::function<void(Args...)> durable_hooks::*hook, Args... args) {
    const auto hooks = hooks_;
    if (hooks && (*hooks).*hook) ((*hooks).*hook)(args...);
  }
  void stop();
  void reconfigure(client_options options);
  // Takes pending_options_ into use; between connections only.
  void apply_pending_options();
  void abort_all_publishes();
  const endpoint& current_broker() const noexcept { return brokers_[broker_index_]; }
  std::string broker_text() const { return to_string(current_broker()); }
  std::string broker_position() const;  // " (broker 2 of 3)" with a list, else ""
  session_clock::time_point now() const { return session_clock::now(); }

  boost::asio::io_context& io_;
  client_options options_;
  logger_ptr logger_;
  std::vector<endpoint> brokers_;  // options_.brokers, or {host, port}: never empty
  std::uint64_t connections_ = 0;  // CONNACKs accepted since start()
  std::size_t broker_index_ = 0;   // the broker connected to, or tried next
  // The broker our session state was built with (restored state is taken as
  // the first's): connecting to another one starts clean. no_session_broker
  // after a reconfigure() to brokers that do not include it.
  static constexpr std::size_t no_session_broker = static_cast<std::size_t>(-1);
  std::size_t session_broker_ = 0;
  session session_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;
  // reconfigure(): the options (and their TLS context) waiting for the
  // connection under way to close.
  std::optional<client_options> pending_options_;
  std::shared_ptr<boost::asio::ssl::context> pending_tls_context_;

  std::shared_ptr<detail::transport> transport_;
  std::uint64_t generation_ = 0;  // bumped for every connection attempt
  bool running_ = false;          // between start() and stop()
  bool opening_ = false;          // resolving, connecting or in the TLS handshake
  bool open_ = false;             // transport open, session fed
  bool flush_posted_ = false;     // a pump is posted: requests of one handler share one write
  bool closing_ = false;          // session asked to close once the output is written
  bool writing_ = false;
  bool pumping_ = false;
  bool destroyed_ = false;  // the client object is gone (maybe from inside a handler)
  std::uint64_t writes_started_ = 0;  // tells a read whether its handling wrote anything
  boost::system::error_code close_reason_;
  std::string close_detail_;
  std::optional<reason_code> close_code_;  // the broker's CONNACK refusal or DISCONNECT code
  std::string close_server_reference_;

  boost::asio::steady_timer session_timer_;
  session_clock::time_point session_timer_expiry_ = session_clock::time_point::max();
  bool session_timer_armed_ = false;
  // One timer per job, so cancelling one never disarms another.
  boost::asio::steady_timer backoff_timer_;  // the wait between connect attempts
  boost::asio::steady_timer open_timer_;     // TCP + TLS within connect_timeout
  boost::asio::steady_timer close_timer_;    // how long a goodbye may take to leave
  boost::asio::steady_timer write_timer_;    // the deadline of the write in flight
  bool write_timer_armed_ = false;
  session_clock::time_point write_started_{};
  reconnect_backoff backoff_;              // reset on start() and on every CONNACK success

  std::vector<std::uint8_t> write_buffer_;  // the one write in flight; lives until it completes
  std::vector<std::uint8_t> read_buffer_;
  std::vector<session_event> events_;
  // QoS 0 messages handed to the session output but not yet written, and
  // those in the write in flight: they complete when their write does.
  std::vector<message_token> qos0_unwritten_;
  std::vector<message_token> qos0_writing_;

  std::unordered_map<message_token, publish_handler> publish_handlers_;
  std::unordered_map<message_token, subscribe_handler> request_handlers_;
  std::shared_ptr<const std::function<void(message_token, const publish_result&)>> restored_handler_;
  std::shared_ptr<const message_handler> message_handler_;
  std::shared_ptr<const connection_handler> connection_handler_;
  std::shared_ptr<const durable_hooks> hooks_;
  // Tokens from here up are the client's own (publish with token 0, and
  // SUBSCRIBE/UNSUBSCRIBE): never given to the durable hooks or the restore handler.
  static constexpr message_token first_own_token = message_token{1} << 63;
  static bool owners_token(message_token token) noexcept { return token != 0 && token < first_own_token; }
  message_token next_token_ = first_own_token;
};

}  // namespace fieldbridge::mqtt
