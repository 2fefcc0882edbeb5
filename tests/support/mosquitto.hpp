// A real mosquitto broker for system tests, on a free loopback port, with its
// own config, password file and certificates in a temporary directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "process.hpp"
#include "temp_dir.hpp"

namespace fieldbridge::test {

struct mosquitto_options {
  // username -> password; when non-empty, anonymous clients are refused.
  std::vector<std::pair<std::string, std::string>> users;
  // TLS listener: PEM files (see make_test_pki). Plain TCP when empty.
  std::filesystem::path ca_file, cert_file, key_file;
  bool require_client_certificate = false;
  // Lines appended to mosquitto.conf as they are.
  std::vector<std::string> extra_config;
  // Persist the broker's sessions in its directory, so a restart keeps them.
  bool persistence = true;
};

class mosquitto_broker {
 public:
  explicit mosquitto_broker(mosquitto_options options = {});
  ~mosquitto_broker();

  std::uint16_t port() const noexcept { return port_; }
  void start();            // (re)start on the same port; waits until it accepts
  void stop();             // SIGTERM (mosquitto saves its persistence file)
  void kill_hard();        // SIGKILL
  bool running() { return process_.running(); }
  pid_t pid() const { return process_.pid(); }
  std::string log() const; // the broker's log so far
  const std::filesystem::path& directory() const { return dir_.path(); }

 private:
  void write_config();

  mosquitto_options options_;
  temp_dir dir_;
  std::uint16_t port_;
  child_process process_;
};

// Test certificates made with the openssl command: a CA, a server certificate
// for 127.0.0.1 / localhost (or the names given), and a client certificate.
struct test_pki {
  std::filesystem::path ca_cert, ca_key;
  std::filesystem::path server_cert, server_key;
  std::filesystem::path client_cert, client_key;
};
test_pki make_test_pki(const std::filesystem::path& directory,
                       const std::vector<std::string>& server_names = {"localhost", "IP:127.0.0.1"});

// A server certificate signed by the CA of `pki` whose validity ended long
// ago (2020-01-01 to 2020-01-02 UTC): what a broker serves after nobody
// renewed its certificate. Written to <directory>/expired-server.{crt,key}.
struct test_certificate {
  std::filesystem::path cert, key;
};
test_certificate make_expired_server_certificate(
    const test_pki& pki, const std::filesystem::path& directory,
    const std::vector<std::string>& server_names = {"localhost", "IP:127.0.0.1"});

}  // namespace fieldbridge::test
