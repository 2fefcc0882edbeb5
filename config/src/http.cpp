// http: the status page's listener settings (docs/operations.md).
#include <arpa/inet.h>

#include <array>
#include <string>

#include "fieldbridge/config/config.hpp"

namespace fieldbridge::config {

bool is_loopback(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  std::array<unsigned char, 16> address{};
  if (::inet_pton(AF_INET, text.c_str(), address.data()) == 1) return address[0] == 127;
  if (::inet_pton(AF_INET6, text.c_str(), address.data()) == 1) {
    static constexpr std::array<unsigned char, 16> v6_loopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return address == v6_loopback;
  }
  return false;
}

}  // namespace fieldbridge::config
