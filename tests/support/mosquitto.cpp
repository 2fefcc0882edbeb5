#include "mosquitto.hpp"

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

#include "network.hpp"

namespace fieldbridge::test {

using namespace std::chrono_literals;

mosquitto_broker::mosquitto_broker(mosquitto_options options)
    : options_(std::move(options)), dir_("fieldbridge-mosquitto"), port_(free_tcp_port()) {
  write_config();
  start();
}

mosquitto_broker::~mosquitto_broker() { process_.kill_hard(); }

void mosquitto_broker::write_config() {
  std::ofstream conf(dir_ / "mosquitto.conf");
  conf << "listener " << port_ << " 127.0.0.1\n";
  // Started as root, mosquitto drops to the "mosquitto" user, which cannot
  // read the test's private temporary directory: stay who we are.
  if (::geteuid() == 0) conf << "user root\n";
  if (options_.users.empty()) {
    conf << "allow_anonymous true\n";
  } else {
    conf << "allow_anonymous false\npassword_file " << (dir_ / "passwd").string() << "\n";
    {
      std::ofstream passwd(dir_ / "passwd");
      for (const auto& [user, password] : options_.users) passwd << user << ":" << password << "\n";
    }
    auto result = run_command({"mosquitto_passwd", "-U", (dir_ / "passwd").string()});
    if (result.exit_code != 0) throw std::runtime_error("mosquitto_passwd failed: " + result.output);
  }
  if (!options_.cert_file.empty()) {
    conf << "cafile " << options_.ca_file.string() << "\n"
         << "certfile " << options_.cert_file.string() << "\n"
         << "keyfile " << options_.key_file.string() << "\n"
         << "tls_version tlsv1.2\n";
    if (options_.require_client_certificate) conf << "require_certificate true\n";
  }
  if (options_.persistence) {
    conf << "persistence true\npersistence_location " << dir_.path().string() << "/\n"
         << "autosave_interval 1\n";
  }
  conf << "log_dest stdout\nlog_type all\nconnection_messages true\n";
  for (const auto& line : options_.extra_config) conf << line << "\n";
}

void mosquitto_broker::start() {
  process_.kill_hard();
  process_ = child_process({"mosquitto", "-c", (dir_ / "mosquitto.conf").string()},
                           dir_ / "mosquitto.log");
  const bool listening = wait_until(
      [this] { return !process_.running() || wait_for_tcp_port(port_, 0ms); }, 10s) &&
                         process_.running();
  if (!listening) {
    throw std::runtime_error("mosquitto did not listen on port " + std::to_string(port_) +
                             ":\n" + log());
  }
}

void mosquitto_broker::stop() { process_.stop(5s); }

void mosquitto_broker::kill_hard() { process_.kill_hard(); }

std::string mosquitto_broker::log() const { return read_file(dir_ / "mosquitto.log"); }

namespace {

void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto result = run_command(argv);
  if (result.exit_code != 0) throw std::runtime_error("openssl failed: " + result.output);
}

void make_leaf(const std::filesystem::path& dir, const std::string& name, const std::string& subject,
               const std::string& extensions, const test_pki& pki) {
  const auto key = (dir / (name + ".key")).string();
  const auto csr = (dir / (name + ".csr")).string();
  const auto ext = dir / (name + ".ext");
  std::ofstream(ext) << extensions;
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", key, "-subj", subject, "-out", csr});
  openssl({"x509", "-req", "-in", csr, "-CA", pki.ca_cert.string(), "-CAkey", pki.ca_key.string(),
           "-CAcreateserial", "-days", "2", "-extfile", ext.string(), "-out",
           (dir / (name + ".crt")).string()});
}

}  // namespace

test_pki make_test_pki(const std::filesystem::path& dir, const std::vector<std::string>& server_names) {
  test_pki pki{dir / "ca.crt", dir / "ca.key", dir / "server.crt", dir / "server.key",
               dir / "client.crt", dir / "client.key"};
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", pki.ca_key.string(), "-subj", "/CN=fieldbridge test CA", "-days", "2",
           "-out", pki.ca_cert.string()});
  std::string san = "subjectAltName=";
  for (std::size_t i = 0; i < server_names.size(); ++i) {
    const auto& name = server_names[i];
    san += (i ? "," : "") + (name.rfind("IP:", 0) == 0 ? name : "DNS:" + name);
  }
  make_leaf(dir, "server", "/CN=" + server_names.front(),
            san + "\nextendedKeyUsage=serverAuth\n", pki);
  make_leaf(dir, "client", "/CN=fieldbridge-client", "extendedKeyUsage=clientAuth\n", pki);
  return pki;
}

}  // namespace fieldbridge::test
