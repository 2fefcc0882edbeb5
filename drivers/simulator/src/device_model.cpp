#include "device_model.hpp"

#include <algorithm>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "fieldbridge/simulator/profiles.hpp"

namespace fieldbridge::simulator {

namespace {

std::uint16_t word_at(std::span<const std::uint8_t> frame, std::size_t offset) {
  if (offset + 1 >= frame.size()) return 0;
  return static_cast<std::uint16_t>((frame[offset] << 8) | frame[offset + 1]);
}

struct table_view {
  std::uint8_t* bits = nullptr;        // coil, discrete
  std::uint16_t* registers = nullptr;  // holding, input
  int start = 0;
  int size = 0;
};

table_view view_of(modbus_mapping_t& mapping, register_table table) {
  switch (table) {
    case register_table::coil:
      return {mapping.tab_bits, nullptr, mapping.start_bits, mapping.nb_bits};
    case register_table::discrete_input:
      return {mapping.tab_input_bits, nullptr, mapping.start_input_bits, mapping.nb_input_bits};
    case register_table::holding_register:
      return {nullptr, mapping.tab_registers, mapping.start_registers, mapping.nb_registers};
    case register_table::input_register:
      return {nullptr, mapping.tab_input_registers, mapping.start_input_registers, mapping.nb_input_registers};
  }
  return {};
}

void store(modbus_mapping_t& mapping, register_table table, std::uint32_t address,
           std::span<const std::uint16_t> words) {
  const auto view = view_of(mapping, table);
  for (std::size_t i = 0; i < words.size(); ++i) {
    const auto index = static_cast<int>(address + i) - view.start;
    if (index < 0 || index >= view.size) continue;
    if (view.bits != nullptr) {
      view.bits[index] = words[i] != 0 ? 1 : 0;
    } else {
      view.registers[index] = words[i];
    }
  }
}

bool overlaps(std::uint32_t a, std::uint32_t a_count, std::uint32_t b, std::uint32_t b_count) {
  return a < b + b_count && b < a + a_count;
}

// The [start, end) span that the blocks of one table cover.
std::pair<int, int> extent(const unit_group& group, register_table table) {
  int low = 65536, high = 0;
  for (const auto& block : group.blocks) {
    if (block.table != table) continue;
    low = std::min<int>(low, block.address);
    high = std::max<int>(high, static_cast<int>(block.address + block.span()));
  }
  return high == 0 ? std::pair{0, 0} : std::pair{low, high - low};
}

}  // namespace

request_view parse_request(std::span<const std::uint8_t> frame, int header_length) {
  request_view request;
  const auto offset = static_cast<std::size_t>(header_length);
  if (frame.size() < offset + 1) return request;
  request.unit = frame[offset - 1];
  request.function = frame[offset];
  request.address = word_at(frame, offset + 1);
  request.quantity = word_at(frame, offset + 3);
  switch (request.function) {
    case 1: case 15: request.table = register_table::coil; break;
    case 2: request.table = register_table::discrete_input; break;
    case 4: request.table = register_table::input_register; break;
    case 3: case 16: case 23: request.table = register_table::holding_register; break;
    case 5: request.table = register_table::coil; request.quantity = 1; break;
    case 6: case 22: request.table = register_table::holding_register; request.quantity = 1; break;
    default: request.quantity = 0; break;
  }
  if (request.function == 23) {
    request.write_address = word_at(frame, offset + 5);
    request.write_quantity = word_at(frame, offset + 7);
  } else if (request.function == 5 || request.function == 6 || request.function == 15 ||
             request.function == 16 || request.function == 22) {
    request.write_address = request.address;
    request.write_quantity = request.quantity;
  }
  return request;
}

device_model::device_model(const sim_config& config, std::function<void(const std::string&)> print)
    : config_(config), print_(std::move(print)), faults_(config_.faults), random_(config_.seed) {
  groups_.reserve(config_.groups.size());
  for (const auto& spec : config_.groups) {
    group_state group;
    group.spec = &spec;
    const auto coils = extent(spec, register_table::coil);
    const auto discretes = extent(spec, register_table::discrete_input);
    const auto holdings = extent(spec, register_table::holding_register);
    const auto inputs = extent(spec, register_table::input_register);
    group.mapping.reset(modbus_mapping_new_start_address(
        static_cast<unsigned>(coils.first), static_cast<unsigned>(coils.second),
        static_cast<unsigned>(discretes.first), static_cast<unsigned>(discretes.second),
        static_cast<unsigned>(holdings.first), static_cast<unsigned>(holdings.second),
        static_cast<unsigned>(inputs.first), static_cast<unsigned>(inputs.second)));
    if (!group.mapping) throw std::runtime_error("simulate: out of memory for the register map");
    for (const auto table : {register_table::coil, register_table::discrete_input,
                             register_table::holding_register, register_table::input_register}) {
      group.pinned[table].assign(static_cast<std::size_t>(view_of(*group.mapping, table).size), false);
    }
    for (const auto& block : spec.blocks) {
      group.reads.emplace_back(block.count, 0);
      if (block.shape.kind != profile_kind::constant) continue;
      // Constants are laid down once, so that writes to them stick.
      const auto words = profile_words(block.shape.value, block.format);
      for (std::uint32_t i = 0; i < block.count; ++i) {
        store(*group.mapping, block.table, block.address + i * words.size(), words);
      }
    }
    for (auto id : spec.ids) group_of_unit_[id] = groups_.size();
    groups_.push_back(std::move(group));
  }
  // Dynamic profiles get their first values now, so a map dump is never all zeros.
  for (auto& group : groups_) {
    for (const auto table : {register_table::coil, register_table::discrete_input,
                             register_table::holding_register, register_table::input_register}) {
      refresh(group, table, 0, 65536);
    }
    for (auto& counts : group.reads) std::fill(counts.begin(), counts.end(), 0);
  }
}

const device_model::group_state* device_model::find(std::uint8_t unit) const {
  const auto it = group_of_unit_.find(unit);
  return it == group_of_unit_.end() ? nullptr : &groups_[it->second];
}

device_model::group_state* device_model::find(std::uint8_t unit) {
  const auto it = group_of_unit_.find(unit);
  return it == group_of_unit_.end() ? nullptr : &groups_[it->second];
}

decision device_model::decide(const request_view& request) const {
  decision result;
  if (find(request.unit) == nullptr) return result;
  result.answer = true;
  std::lock_guard lock(mutex_);
  for (const auto& f : faults_) {
    if (f.unit && *f.unit != request.unit) continue;
    if (f.table && f.table != request.table) continue;
    const bool whole = f.address == 0 && f.count >= 65536;
    const bool hit = whole || overlaps(request.address, std::max<std::uint16_t>(request.quantity, 1), f.address, f.count) ||
                     (request.write_quantity > 0 &&
                      overlaps(request.write_address, request.write_quantity, f.address, f.count));
    if (!hit || (!whole && !request.table)) continue;
    switch (f.kind) {
      case fault_kind::no_answer: result.answer = false; break;
      case fault_kind::exception:
        if (!result.exception) result.exception = f.exception_code;
        break;
      case fault_kind::delay: result.delay = std::max(result.delay, f.delay); break;
    }
  }
  return result;
}

bool device_model::in_map(const request_view& request) const {
  const auto* group = find(request.unit);
  if (group == nullptr || !request.table) return true;
  const auto view = view_of(*group->mapping, *request.table);
  const auto fits = [&](std::uint32_t address, std::uint32_t quantity) {
    return static_cast<int>(address) >= view.start &&
           static_cast<int>(address + quantity) <= view.start + view.size;
  };
  return fits(request.address, request.quantity) &&
         (request.write_quantity == 0 || fits(request.write_address, request.write_quantity));
}

void device_model::refresh(group_state& group, register_table table, std::uint32_t address,
                           std::uint32_t quantity) {
  const auto& blocks = group.spec->blocks;
  const auto view = view_of(*group.mapping, table);
  const auto& pinned = group.pinned[table];
  const auto elapsed = std::chrono::steady_clock::now() - start_;
  for (std::size_t b = 0; b < blocks.size(); ++b) {
    const auto& block = blocks[b];
    if (block.table != table || block.shape.kind == profile_kind::constant ||
        !overlaps(block.address, block.span(), address, quantity)) {
      continue;
    }
    const std::uint32_t size = register_count(block.format);
    for (std::uint32_t i = 0; i < block.count; ++i) {
      const std::uint32_t first = block.address + i * size;
      if (!overlaps(first, size, address, quantity)) continue;
      bool written = false;
      for (std::uint32_t r = first; r < first + size; ++r) {
        written = written || pinned[r - static_cast<std::uint32_t>(view.start)];
      }
      if (written) continue;
      const auto value = profile_value(block.shape, elapsed, group.reads[b][i]++, random_);
      store(*group.mapping, table, first, profile_words(value, block.format));
    }
  }
}

void device_model::answer(modbus_t* ctx, std::span<const std::uint8_t> frame, const request_view& request,
                          const decision& how) {
  std::lock_guard lock(mutex_);
  auto* group = find(request.unit);
  if (group == nullptr) return;
  if (how.exception) {
    modbus_reply_exception(ctx, frame.data(), *how.exception);
    return;
  }
  const bool valid = in_map(request);
  if (valid && request.table && request.quantity > 0 && request.function != 5 && request.function != 6 &&
      request.function != 15 && request.function != 16 && request.function != 22) {
    refresh(*group, *request.table, request.address, request.quantity);
  }
  if (modbus_reply(ctx, frame.data(), static_cast<int>(frame.size()), group->mapping.get()) < 0) return;
  if (valid && request.write_quantity > 0 && request.table) {
    record_write(*group, request);
  }
}

void device_model::record_write(group_state& group, const request_view& request) {
  const auto table = *request.table;
  const auto view = view_of(*group.mapping, table);
  auto& pinned = group.pinned[table];
  std::vector<unsigned> values;
  for (std::uint32_t i = 0; i < request.write_quantity; ++i) {
    const auto index = static_cast<std::size_t>(request.write_address + i - static_cast<std::uint32_t>(view.start));
    pinned[index] = true;
    values.push_back(view.bits != nullptr ? view.bits[index] : view.registers[index]);
  }
  print_(fmt::format("simulate: write unit={} fc={} table={} address={} values=[{}]", request.unit,
                     request.function, to_string(table), request.write_address, fmt::join(values, ", ")));
}

void device_model::replace_faults(std::vector<fault> faults) {
  std::lock_guard lock(mutex_);
  faults_ = std::move(faults);
}

}  // namespace fieldbridge::simulator
