// fieldbridge write: one-shot write of a Modbus register or coil, read back.
#include <memory>

#include <fmt/core.h>

#include "addressing.hpp"
#include "commands.hpp"
#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::cli {

namespace {

struct write_flags {
  link_flags link;
  point_flags point;
  std::string value;
  std::optional<double> min, max;
  bool force_multiple = false;
};

int fail(const std::string& message) {
  fmt::print(stderr, "fieldbridge write: {}\n", message);
  return exit_failure;
}

int run_write(const write_flags& flags) {
  const auto target = resolve_link(flags.link);
  auto point = point_of(flags.point);
  point.writable = true;
  point.min = flags.min;
  point.max = flags.max;
  if (point.table != register_table::coil && point.table != register_table::holding_register) {
    return fail(fmt::format("the {} table is read-only; write to coil or holding", to_string(point.table)));
  }
  const auto parsed = drivers::parse_value(flags.value, point.format);
  if (!parsed.ok()) return fail(parsed.error);

  const auto unit = static_cast<std::uint8_t>(flags.point.unit);
  const auto size = register_count(point.format);
  drivers::modbus_link link(target.link, target.timeouts);
  std::vector<std::uint16_t> words;
  std::optional<std::uint16_t> current;
  if (point.format.bit) {
    // A bit is written as its whole register: read it first, change one bit.
    if (const auto ec = link.read(unit, point.table, point.address, 1, words)) {
      return fail(describe_error(ec, target, flags.point.unit));
    }
    current = words.at(0);
  }
  const auto encoded = drivers::encode(parsed.value, point, current);
  if (!encoded.ok()) return fail(fmt::format("{} refused: {}", flags.value, encoded.error));
  if (const auto ec = link.write(unit, point.table, point.address, encoded.words, flags.force_multiple)) {
    return fail(describe_error(ec, target, flags.point.unit));
  }
  if (const auto ec = link.read(unit, point.table, point.address, size, words)) {
    return fail("written, but the read-back failed: " + describe_error(ec, target, flags.point.unit));
  }
  const auto read_back = drivers::decode(words, point.format);
  const auto text = read_back.good() ? value_text(read_back.value, point.format)
                                     : fmt::format("bad ({})", read_back.error);
  fmt::print("{} {} {}: wrote {}, read back {} [{}]\n", to_string(point.table), point.address,
             to_string(point.format.type), drivers::to_text(parsed.value), text, hex_words(words));
  return exit_ok;
}

}  // namespace

void add_write_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("write", "One-shot write of a Modbus register or coil, read back");
  auto flags = std::make_shared<write_flags>();
  add_link_flags(*sub, flags->link, "500ms");
  add_point_flags(*sub, flags->point, true);
  sub->add_option("--value", flags->value, "the value to write: 42, -1.5, true/false/on/off, or text")->required();
  sub->add_option("--min", flags->min, "refuse values below this (engineering units)");
  sub->add_option("--max", flags->max, "refuse values above this (engineering units)");
  sub->add_flag("--force-multiple", flags->force_multiple,
                "use FC15/FC16 even for one coil or register (devices that lack FC05/FC06)");
  sub->footer(R"(Coils are written with FC05 (FC15 with --force-multiple), registers with FC06 for
one register and FC16 for more. The value is checked against the type's range and
--min/--max before anything is sent, then the point is read back and the read-back
value printed. Exit 1 with one line naming the refusal, Modbus exception or time-out.
Examples:
  fieldbridge write --tcp 127.0.0.1:15020 --unit 1 --table holding --address 10 --type int16 --scale 0.1 --value 22.5
  fieldbridge write --tcp 127.0.0.1:15020 --unit 1 --table coil --address 0 --value on)");
  sub->callback([&context, flags] { context.exit_code = run_write(*flags); });
}

}  // namespace fieldbridge::cli
