// fieldbridge scan: list the unit ids that answer on a line or TCP endpoint.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "addressing.hpp"
#include "commands.hpp"
#include "fieldbridge/drivers/modbus_error.hpp"

namespace fieldbridge::cli {

namespace {

struct scan_flags {
  link_flags link;
  std::string units = "1-247";
};

// "1-247", "1,2,5-7"
std::vector<std::uint8_t> parse_units(const std::string& text) {
  std::vector<std::uint8_t> units;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    const auto part = text.substr(start, comma - start);
    const auto dash = part.find('-');
    unsigned long first = 0, last = 0;
    try {
      first = std::stoul(part.substr(0, dash));
      last = dash == std::string::npos ? first : std::stoul(part.substr(dash + 1));
    } catch (const std::exception&) {
      throw CLI::ValidationError("--units", "'" + part + "' is not a unit or a range like 1-247");
    }
    if (first > last || last > 255) throw CLI::ValidationError("--units", "'" + part + "' is not within 0-255");
    for (auto unit = first; unit <= last; ++unit) units.push_back(static_cast<std::uint8_t>(unit));
    start = comma + 1;
  }
  return units;
}

int run_scan(const scan_flags& flags) {
  const auto target = resolve_link(flags.link);
  const auto units = parse_units(flags.units);
  const bool progress = ::isatty(STDERR_FILENO) == 1;
  drivers::modbus_link link(target.link, target.timeouts);
  std::vector<unsigned> found;
  std::vector<std::uint16_t> words;
  for (std::size_t i = 0; i < units.size(); ++i) {
    const auto unit = units[i];
    if (progress) {
      fmt::print(stderr, "\rscan: unit {} ({}/{}), {} found ", unit, i + 1, units.size(), found.size());
      std::fflush(stderr);
    }
    // Any answer, an exception included, proves that the unit is there.
    const auto ec = link.read(unit, register_table::holding_register, 0, 1, words);
    if (!ec || drivers::is_exception(ec)) {
      found.push_back(unit);
      if (progress) fmt::print(stderr, "\r\033[K");
      fmt::print("unit {} answers{}\n", unit, ec ? fmt::format(" (exception: {})", ec.message()) : "");
      std::fflush(stdout);
      continue;
    }
    if (drivers::is_link_failure(ec) && !link.is_open()) {
      // A dead line or a refused connection is no answer from every unit: stop here.
      if (const auto open_error = link.open()) {
        if (progress) fmt::print(stderr, "\n");
        fmt::print(stderr, "fieldbridge scan: {}\n", describe_error(ec, target, unit));
        return exit_failure;
      }
    }
  }
  if (progress) fmt::print(stderr, "\r\033[K");
  if (found.empty()) {
    fmt::print(stderr, "fieldbridge scan: no unit of {} answers at {}\n", flags.units, target.description);
    return exit_failure;
  }
  fmt::print("scan: {} of {} units answer at {}: {}\n", found.size(), units.size(), target.description,
             fmt::join(found, ","));
  return exit_ok;
}

}  // namespace

void add_scan_command(CLI::App& app, command_context& context) {
  auto* sub = app.add_subcommand("scan", "List the unit ids that answer on a line or TCP endpoint");
  auto flags = std::make_shared<scan_flags>();
  add_link_flags(*sub, flags->link, "100ms");
  sub->add_option("--units", flags->units, "unit ids to try: a range and/or list, e.g. 1-247 or 1,2,10-20")
      ->capture_default_str();
  sub->footer(R"(Sends one read of holding register 0 to each unit id; any answer (a Modbus
exception too) means the unit exists. Prints "unit N answers" per unit found and a last
line "scan: K of M units answer at LINK: 1,2,...". A progress line goes to stderr when it
is a terminal. Exit 0 when at least one unit answers, 1 when none does or the link fails.
A full scan costs up to (units x --timeout): 247 x 100ms = 25 s.
Example:
  fieldbridge scan --rtu /dev/ttyUSB0 --baud 9600 --units 1-32 --timeout 100ms)");
  sub->callback([&context, flags] { context.exit_code = run_scan(*flags); });
}

}  // namespace fieldbridge::cli
