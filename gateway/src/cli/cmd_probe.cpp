// fieldbridge probe: read a block once and print every interpretation of it.
#include <memory>

#include <fmt/core.h>

#include "addressing.hpp"
#include "commands.hpp"
#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::cli {

namespace {

struct probe_flags {
  link_flags link;
  point_flags point;
};

constexpr value_type probed_types[] = {value_type::int16,   value_type::uint16, value_type::int32,
                                       value_type::uint32,  value_type::float32, value_type::int64,
                                       value_type::uint64,  value_type::float64};

std::string printable(std::string text) {
  for (auto& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7E) c = '.';
  }
  return text;
}

void print_registers(const probe_flags& flags, std::span<const std::uint16_t> words) {
  const auto start = flags.point.address;
  fmt::print("unit {} {} {}..{} ({} registers): {}\n", flags.point.unit, flags.point.table, start,
             start + words.size() - 1, words.size(), hex_words(words));
  fmt::print("{:<8}{:<9}{:<24}{:<24}{:<24}{}\n", "address", "type", "ABCD", "CDAB", "BADC", "DCBA");
  for (std::size_t offset = 0; offset < words.size(); ++offset) {
    for (const auto type : probed_types) {
      register_format format;
      format.type = type;
      const auto size = register_count(format);
      if (offset + size > words.size()) continue;
      std::string row = fmt::format("{:<8}{:<9}", start + offset, to_string(type));
      for (const auto order : all_orders) {
        format.order = order;
        const auto value = drivers::decode_raw(words.subspan(offset, size), format);
        const auto text = value.good() ? value_text(value.value, format) : value.error;
        row += order == word_order::dcba ? text : fmt::format("{:<24}", text);
      }
      fmt::print("{}\n", row);
    }
  }
  register_format text;
  text.type = value_type::string;
  text.length = static_cast<std::uint16_t>(words.size());
  for (const auto order : {word_order::abcd, word_order::badc}) {
    text.order = order;
    const auto value = drivers::decode_raw(words, text);
    fmt::print("{:<8}{:<9}{}: \"{}\"\n", start, "string", to_string(order),
               printable(value.good() ? drivers::to_text(value.value) : std::string{}));
  }
}

int run_probe(const probe_flags& flags) {
  const auto target = resolve_link(flags.link);
  const auto point = point_of(flags.point);
  const auto bits = point.table == register_table::coil || point.table == register_table::discrete_input;
  if (!bits && flags.point.count > 125) {
    throw CLI::ValidationError("--count", "at most 125 registers in one read");
  }
  drivers::modbus_link link(target.link, target.timeouts);
  std::vector<std::uint16_t> words;
  if (const auto ec = link.read(static_cast<std::uint8_t>(flags.point.unit), point.table, point.address,
                                static_cast<std::uint16_t>(flags.point.count), words)) {
    fmt::print(stderr, "fieldbridge probe: {}\n", describe_error(ec, target, flags.point.unit));
    return exit_failure;
  }
  if (bits) {
    fmt::print("unit {} {} {}..{} ({} bits):\n", flags.point.unit, flags.point.table, point.address,
               point.address + words.size() - 1, words.size());
    for (std::size_t i = 0; i < words.size(); i += 16) {
      std::string row;
      for (std::size_t j = i; j < std::min(words.size(), i + 16); ++j) row += words[j] != 0 ? " 1" : " 0";
      fmt::print("{:<8}{}\n", point.address + i, row);
    }
    return exit_ok;
  }
  print_registers(flags, words);
  return exit_ok;
}

}  // namespace

void add_probe_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("probe", "Read a block once and print every interpretation, to find the right decoding");
  auto flags = std::make_shared<probe_flags>();
  add_link_flags(*sub, flags->link, "500ms");
  add_point_flags(*sub, flags->point, false);
  flags->point.count = 8;
  sub->add_option("--count", flags->point.count, "registers (or bits) to read, at most 125 (2000 bits)")
      ->check(CLI::Range(1U, 2000U))
      ->capture_default_str();
  sub->footer(R"(Prints the raw registers, then one row per start address and type (int16 .. float64)
with the value in each register order (scale 1), then the block as text. Look for
the value the device's display shows (e.g. 230.4) and read off its address, type
and order for the configuration.
Example:
  fieldbridge probe --tcp 127.0.0.1:15020 --unit 1 --table input --address 0 --count 8)");
  sub->callback([&context, flags] { context.exit_code = run_probe(*flags); });
}

}  // namespace fieldbridge::cli
