// fieldbridge read: one-shot read and decode of a Modbus device, for commissioning.
#include <memory>

#include <fmt/core.h>

#include "addressing.hpp"
#include "commands.hpp"
#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::cli {

namespace {

struct read_flags {
  link_flags link;
  point_flags point;
  bool raw = false;
};

int run_read(const read_flags& flags) {
  const auto target = resolve_link(flags.link);
  const auto point = point_of(flags.point);
  const auto size = register_count(point.format);
  const auto total = static_cast<std::uint16_t>(size * flags.point.count);
  drivers::modbus_link link(target.link, target.timeouts);
  std::vector<std::uint16_t> words;
  if (const auto ec = link.read(static_cast<std::uint8_t>(flags.point.unit), point.table, point.address, total, words)) {
    fmt::print(stderr, "fieldbridge read: {}\n", describe_error(ec, target, flags.point.unit));
    return exit_failure;
  }
  const auto& format = point.format;
  const auto label = format.type == value_type::boolean && !format.bit
                         ? std::string{"bool"}
                         : fmt::format("{}{}{}", to_string(format.type),
                                       size > 1 ? fmt::format(" {}", to_string(format.order)) : "",
                                       format.bit ? fmt::format(" bit {}", *format.bit) : "");
  for (unsigned i = 0; i < flags.point.count; ++i) {
    const auto slice = std::span<const std::uint16_t>(words).subspan(i * size, size);
    const auto value = drivers::decode(slice, format);
    const auto text = value.good() ? value_text(value.value, format) : fmt::format("bad ({})", value.error);
    fmt::print("{} {} {}: {}{}\n", to_string(point.table), point.address + i * size, label, text,
               flags.raw ? fmt::format(" [{}]", hex_words(slice)) : "");
  }
  return exit_ok;
}

}  // namespace

void add_read_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("read", "One-shot read and decode of a Modbus device, for commissioning");
  auto flags = std::make_shared<read_flags>();
  add_link_flags(*sub, flags->link, "500ms");
  add_point_flags(*sub, flags->point, true);
  sub->add_option("--count", flags->point.count, "how many values of --type to read, back to back")
      ->check(CLI::Range(1U, 2000U))
      ->capture_default_str();
  sub->add_flag("--raw", flags->raw, "also print the registers (or bits) as read");
  sub->footer(R"(Prints one line per value: TABLE ADDRESS TYPE [ORDER]: VALUE [raw words].
Exit 1 with one line naming the Modbus exception, the time-out or the link error.
Examples:
  fieldbridge read --tcp 127.0.0.1:15020 --unit 1 --table input --address 0 --type float32 --order CDAB
  fieldbridge read --rtu /dev/ttyUSB0 --baud 9600 --parity E --unit 3 --table holding --address 10 --count 4 --raw)");
  sub->callback([&context, flags] { context.exit_code = run_read(*flags); });
}

}  // namespace fieldbridge::cli
