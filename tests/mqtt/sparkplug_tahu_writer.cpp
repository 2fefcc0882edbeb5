// Writes Sparkplug B payloads with fieldbridge's codec for the interop test:
// sparkplug_tahu_writer <dir> puts birth.bin, data.bin and arrays.bin there,
// and manifest.json with what each metric must decode to. The checking is
// done by Eclipse Tahu's JavaScript decoder (sparkplug_tahu_check.js), an
// implementation that no one here wrote.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "fieldbridge/sparkplug/payload.hpp"

namespace sp = fieldbridge::sparkplug;
using sp::data_type;

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string hex(const sp::bytes& b) {
  std::string out;
  char buf[3];
  for (const auto byte : b) {
    std::snprintf(buf, sizeof buf, "%02x", byte);
    out += buf;
  }
  return out;
}

// The value as the manifest's string: integers in decimal (64-bit ones do
// not fit a JavaScript number), floats with enough digits to round-trip,
// bytes in hex.
std::string text_of(const sp::value& v) {
  char buf[64];
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&v)) return std::to_string(*u);
  if (const auto* f = std::get_if<float>(&v)) {
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(*f));
    return buf;
  }
  if (const auto* d = std::get_if<double>(&v)) {
    std::snprintf(buf, sizeof buf, "%.17g", *d);
    return buf;
  }
  if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* b = std::get_if<sp::bytes>(&v)) return hex(*b);
  return "null";
}

// The protobuf field of the 3.0 table, by its name in Tahu's protobufjs schema.
std::string field_of(data_type type) {
  switch (type) {
    case data_type::int8: case data_type::int16: case data_type::int32:
    case data_type::uint8: case data_type::uint16: case data_type::uint32:
      return "intValue";
    case data_type::int64: case data_type::uint64: case data_type::date_time:
      return "longValue";
    case data_type::float_: return "floatValue";
    case data_type::double_: return "doubleValue";
    case data_type::boolean: return "booleanValue";
    case data_type::string: case data_type::text: case data_type::uuid: return "stringValue";
    default: return "bytesValue";
  }
}

// What the wire holds in that field, as text: the signed integer types as
// their 32-bit (int_value) or 64-bit (long_value) two's complement.
std::string raw_of(const sp::metric& m) {
  if (const auto* i = std::get_if<std::int64_t>(&m.val)) {
    if (field_of(m.type) == "intValue") return std::to_string(static_cast<std::uint32_t>(*i));
    return std::to_string(static_cast<std::uint64_t>(*i));
  }
  return text_of(m.val);
}

struct written {
  std::string file;
  sp::payload p;
};

sp::metric make(const std::string& name, std::uint64_t alias, data_type type, sp::value v) {
  sp::metric m;
  m.name = name;
  m.alias = alias;
  m.timestamp = 1764763200000 + alias;
  m.type = type;
  m.val = std::move(v);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: sparkplug_tahu_writer <dir>\n";
    return 2;
  }
  const std::string dir = argv[1];

  sp::payload birth;
  birth.timestamp = 1764763200000;
  birth.seq = 0;
  std::uint64_t alias = 1;
  auto add = [&](const std::string& name, data_type type, sp::value v) {
    birth.metrics.push_back(make(name, alias++, type, std::move(v)));
  };
  add("int8/min", data_type::int8, std::int64_t{-128});
  add("int8/neg", data_type::int8, std::int64_t{-5});
  add("int16/min", data_type::int16, std::int64_t{-32768});
  add("int32/min", data_type::int32, std::int64_t{std::numeric_limits<std::int32_t>::min()});
  add("int32/max", data_type::int32, std::int64_t{std::numeric_limits<std::int32_t>::max()});
  add("int64/min", data_type::int64, std::int64_t{std::numeric_limits<std::int64_t>::min()});
  add("int64/neg", data_type::int64, std::int64_t{-2});
  add("uint8/max", data_type::uint8, std::uint64_t{255});
  add("uint16/max", data_type::uint16, std::uint64_t{65535});
  add("uint32/max", data_type::uint32, std::uint64_t{4294967295u});
  add("uint32/small", data_type::uint32, std::uint64_t{7});
  add("uint64/max", data_type::uint64, std::uint64_t{std::numeric_limits<std::uint64_t>::max()});
  add("float", data_type::float_, 230.125f);
  add("double", data_type::double_, 0.1);
  add("boolean", data_type::boolean, true);
  add("string", data_type::string, std::string("Pump \"1\" \xC2\xB0" "C"));
  add("datetime", data_type::date_time, std::uint64_t{1764763200123});
  add("text", data_type::text, std::string("two\nlines"));
  add("uuid", data_type::uuid, std::string("8f14e45f-ceea-467a-9af1-6f1d5a2b7c3e"));
  add("bytes", data_type::bytes, sp::bytes{0x00, 0xFF, 0x10});
  add("file", data_type::file, sp::bytes{'%', 'P', 'D', 'F'});
  birth.metrics[12].properties.push_back({"engUnit", data_type::string, std::string("V"), false});
  birth.metrics[12].properties.push_back({"Quality", data_type::int32, std::int64_t{192}, false});

  // DDATA as the edge node sends it: aliases, no names, no datatypes.
  sp::payload data;
  data.timestamp = 1764763260000;
  data.seq = 1;
  for (const std::uint64_t a : {1u, 10u, 13u}) {
    sp::metric m = birth.metrics[a - 1];
    m.name.reset();
    m.datatype_on_wire = false;
    m.is_historical = a == 10u;
    m.properties.clear();
    data.metrics.push_back(m);
  }

  sp::payload arrays;
  arrays.timestamp = 1764763200000;
  arrays.seq = 2;
  std::uint64_t array_alias = 100;
  auto add_array = [&](const std::string& name, data_type type, const sp::array_value& elements) {
    arrays.metrics.push_back(make(name, array_alias++, type, sp::pack_array(type, elements)));
  };
  add_array("int16s", data_type::int16_array, std::vector<std::int64_t>{-30000, 30000});
  add_array("uint32s", data_type::uint32_array, std::vector<std::uint64_t>{52, 3293969225u});
  add_array("bools", data_type::boolean_array, std::vector<bool>{false, false, true, true, false, true, false, false, true});
  add_array("strings", data_type::string_array, std::vector<std::string>{"ABC", "hello"});

  const std::vector<written> files = {{"birth.bin", birth}, {"data.bin", data}, {"arrays.bin", arrays}};
  std::string manifest = "[\n";
  for (std::size_t f = 0; f < files.size(); ++f) {
    const auto& [file, p] = files[f];
    const sp::bytes wire = sp::encode(p);
    std::ofstream out(dir + "/" + file, std::ios::binary);
    out.write(reinterpret_cast<const char*>(wire.data()), static_cast<std::streamsize>(wire.size()));
    if (!out) {
      std::cerr << "cannot write " << dir << "/" << file << "\n";
      return 1;
    }
    manifest += "  {\"file\": " + json_string(file) + ", \"seq\": \"" + std::to_string(*p.seq) +
                "\", \"timestamp\": \"" + std::to_string(*p.timestamp) + "\", \"metrics\": [\n";
    for (std::size_t i = 0; i < p.metrics.size(); ++i) {
      const sp::metric& m = p.metrics[i];
      manifest += "    {\"name\": " + (m.name ? json_string(*m.name) : std::string("null")) +
                  ", \"alias\": \"" + std::to_string(*m.alias) + "\", \"timestamp\": \"" +
                  std::to_string(*m.timestamp) + "\", \"type\": " + json_string(std::string(sp::name_of(m.type))) +
                  ", \"datatype_on_wire\": " + (m.datatype_on_wire ? "true" : "false") +
                  ", \"is_historical\": " + (m.is_historical ? "true" : "false") +
                  ", \"field\": " + json_string(field_of(m.type)) + ", \"value\": " + json_string(text_of(m.val)) +
                  ", \"raw\": " + json_string(raw_of(m)) + ", \"properties\": {";
      for (std::size_t k = 0; k < m.properties.size(); ++k) {
        const auto& prop = m.properties[k];
        manifest += (k ? ", " : "") + json_string(prop.key) + ": {\"type\": " +
                    json_string(std::string(sp::name_of(prop.type))) + ", \"value\": " + json_string(text_of(prop.val)) + "}";
      }
      manifest += std::string("}}") + (i + 1 < p.metrics.size() ? "," : "") + "\n";
    }
    manifest += std::string("  ]}") + (f + 1 < files.size() ? "," : "") + "\n";
  }
  manifest += "]\n";
  std::ofstream out(dir + "/manifest.json");
  out << manifest;
  return out ? 0 : 1;
}
