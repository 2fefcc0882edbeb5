// split_host_port: the address forms users write in the configuration and
// on the command line.
#include <gtest/gtest.h>

#include "fieldbridge/core/text.hpp"

namespace fieldbridge {
namespace {

struct split_case {
  const char* text;
  const char* host;
  int port;  // 0: none given
};

class split_host_port_test : public ::testing::TestWithParam<split_case> {};

TEST_P(split_host_port_test, GivesHostAndPort) {
  std::string error;
  const auto result = split_host_port(GetParam().text, error);
  ASSERT_TRUE(result) << error;
  EXPECT_EQ(result->host, GetParam().host);
  if (GetParam().port == 0) {
    EXPECT_FALSE(result->port);
  } else {
    EXPECT_EQ(result->port, GetParam().port);
  }
}

INSTANTIATE_TEST_SUITE_P(forms, split_host_port_test,
                         ::testing::Values(split_case{"a.example:8883", "a.example", 8883},
                                           split_case{"a.example", "a.example", 0},
                                           split_case{"127.0.0.1:1", "127.0.0.1", 1},
                                           split_case{"[::1]:1883", "::1", 1883},
                                           split_case{"[fe80::1]", "fe80::1", 0},
                                           split_case{"::1", "::1", 0},
                                           split_case{"h:65535", "h", 65535}));

TEST(SplitHostPort, RefusesMalformedAddressesInWords) {
  const std::pair<const char*, const char*> cases[] = {
      {"[::1:1883", "missing ']' in [::1:1883"},
      {"[::1]1883", "expected :PORT after ']' in [::1]1883"},
      {"a.example:", "'' is not a port"},
      {"a.example:x1", "'x1' is not a port"},
      {"a.example:0", "port 0 is out of range 1..65535"},
      {"a.example:65536", "port 65536 is out of range 1..65535"},
      {"a.example:123456", "port 123456 is out of range 1..65535"},
      {":1883", "no host in ':1883'"},
      {"", "no host in ''"},
      {"[]:1883", "no host in '[]:1883'"},
  };
  for (const auto& [text, message] : cases) {
    std::string error;
    EXPECT_FALSE(split_host_port(text, error)) << text;
    EXPECT_EQ(error, message) << text;
  }
}

}  // namespace
}  // namespace fieldbridge
