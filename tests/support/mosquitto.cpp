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

// A new key and a certificate request for it: <dir>/<name>.key and .csr.
void make_request(const std::filesystem::path& dir, const std::string& name, const std::string& subject) {
  openssl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", (dir / (name + ".key")).string(), "-subj", subject, "-out", (dir / (name + ".csr")).string()});
}

void make_leaf(const std::filesystem::path& dir, const std::string& name, const std::string& subject,
               const std::string& extensions, const test_pki& pki) {
  const auto ext = dir / (name + ".ext");
  std::ofstream(ext) << extensions;
  make_request(dir, name, subject);
  openssl({"x509", "-req", "-in", (dir / (name + ".csr")).string(), "-CA", pki.ca_cert.string(), "-CAkey",
           pki.ca_key.string(), "-CAcreateserial", "-days", "2", "-extfile", ext.string(), "-out",
           (dir / (name + ".crt")).string()});
}

// The extensions of a server certificate for `names` ("IP:" marks an address).
std::string server_extensions(const std::vector<std::string>& names) {
  std::string san = "subjectAltName=";
  for (std::size_t i = 0; i < names.size(); ++i) {
    const auto& name = names[i];
    san += (i ? "," : "") + (name.rfind("IP:", 0) == 0 ? name : "DNS:" + name);
  }
  return san + "\nextendedKeyUsage=serverAuth\n";
}

}  // namespace

test_pki make_test_pki(const std::filesystem::path& dir, const std::vector<std::string>& server_names) {
  test_pki pki{dir / "ca.crt", dir / "ca.key", dir / "server.crt", dir / "server.key",
               dir / "client.crt", dir / "client.key"};
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", pki.ca_key.string(), "-subj", "/CN=fieldbridge test CA", "-days", "2",
           "-out", pki.ca_cert.string()});
  make_leaf(dir, "server", "/CN=" + server_names.front(), server_extensions(server_names), pki);
  make_leaf(dir, "client", "/CN=fieldbridge-client", "extendedKeyUsage=clientAuth\n", pki);
  return pki;
}

test_certificate make_expired_server_certificate(const test_pki& pki, const std::filesystem::path& dir,
                                                 const std::vector<std::string>& server_names) {
  // `openssl x509 -req` of OpenSSL 3.0 cannot set a start date; `openssl ca`
  // can, and needs a minimal CA configuration with its own database.
  const auto db = dir / "expired-ca";
  std::filesystem::create_directories(db);
  std::ofstream(db / "index.txt").flush();
  std::ofstream(db / "serial") << "1000\n";
  std::ofstream(db / "ca.cnf") << "[ca]\ndefault_ca = test_ca\n"
                               << "[test_ca]\ndatabase = " << (db / "index.txt").string() << "\n"
                               << "new_certs_dir = " << db.string() << "\n"
                               << "serial = " << (db / "serial").string() << "\n"
                               << "default_md = sha256\npolicy = any\nunique_subject = no\n"
                               << "[any]\ncommonName = supplied\n";
  std::ofstream(dir / "expired-server.ext") << server_extensions(server_names);
  make_request(dir, "expired-server", "/CN=" + server_names.front());
  test_certificate expired{dir / "expired-server.crt", dir / "expired-server.key"};
  openssl({"ca", "-batch", "-notext", "-config", (db / "ca.cnf").string(), "-cert", pki.ca_cert.string(),
           "-keyfile", pki.ca_key.string(), "-in", (dir / "expired-server.csr").string(), "-startdate",
           "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", (dir / "expired-server.ext").string(),
           "-out", expired.cert.string()});
  return expired;
}

}  // namespace fieldbridge::test
