// Register codec vectors: every type and order, scale/offset, bad quality for
// NaN and infinities, and the inverse for writes with its range checks.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "fieldbridge/drivers/codec.hpp"

namespace fieldbridge::drivers {
namespace {

using words = std::vector<std::uint16_t>;

register_format fmt_of(value_type type, word_order order = word_order::abcd) {
  register_format f;
  f.type = type;
  f.order = order;
  return f;
}

point_spec point_of(register_format format, register_table table = register_table::holding_register) {
  point_spec p;
  p.name = "p";
  p.table = table;
  p.format = format;
  p.writable = true;
  return p;
}

// 230.4f is 0x43666666: A=43 B=66 C=66 D=66 spelled in each order.
struct float_vector {
  word_order order;
  words registers;
};

class float32_orders : public ::testing::TestWithParam<float_vector> {};

TEST_P(float32_orders, decodes_230_4) {
  const auto& v = GetParam();
  const auto d = decode(v.registers, fmt_of(value_type::float32, v.order));
  ASSERT_TRUE(d.good()) << d.error;
  EXPECT_EQ(static_cast<float>(std::get<double>(d.value)), 230.4F);
}

TEST_P(float32_orders, encodes_230_4) {
  const auto& v = GetParam();
  const auto e = encode(point_value{230.4}, point_of(fmt_of(value_type::float32, v.order)));
  ASSERT_TRUE(e.ok()) << e.error;
  EXPECT_EQ(e.words, v.registers);
}

INSTANTIATE_TEST_SUITE_P(codec, float32_orders,
                         ::testing::Values(float_vector{word_order::abcd, {0x4366, 0x6666}},
                                           float_vector{word_order::cdab, {0x6666, 0x4366}},
                                           float_vector{word_order::badc, {0x6643, 0x6666}},
                                           float_vector{word_order::dcba, {0x6666, 0x6643}}));

// 64-bit orders as model.hpp names them: 0x0102030405060708 = ABCDEFGH.
TEST(codec, uint64_in_every_order) {
  const std::uint64_t expected = 0x0102030405060708ULL;
  const std::vector<std::pair<word_order, words>> vectors = {
      {word_order::abcd, {0x0102, 0x0304, 0x0506, 0x0708}},
      {word_order::cdab, {0x0708, 0x0506, 0x0304, 0x0102}},  // GHEFCDAB
      {word_order::badc, {0x0201, 0x0403, 0x0605, 0x0807}},  // BADCFEHG
      {word_order::dcba, {0x0807, 0x0605, 0x0403, 0x0201}},  // HGFEDCBA
  };
  for (const auto& [order, regs] : vectors) {
    const auto d = decode(regs, fmt_of(value_type::uint64, order));
    ASSERT_TRUE(d.good());
    EXPECT_EQ(std::get<std::uint64_t>(d.value), expected) << to_string(order);
    const auto e = encode(point_value{expected}, point_of(fmt_of(value_type::uint64, order)));
    ASSERT_TRUE(e.ok()) << e.error;
    EXPECT_EQ(e.words, regs) << to_string(order);
  }
}

TEST(codec, float64_in_every_order) {
  // 1.5 = 0x3FF8000000000000; -230.4 round-trips through every order.
  const auto d = decode(words{0x3FF8, 0, 0, 0}, fmt_of(value_type::float64));
  ASSERT_TRUE(d.good());
  EXPECT_EQ(std::get<double>(d.value), 1.5);
  const auto swapped = decode(words{0, 0, 0, 0xF83F}, fmt_of(value_type::float64, word_order::dcba));
  EXPECT_EQ(std::get<double>(swapped.value), 1.5);
  for (auto order : {word_order::abcd, word_order::cdab, word_order::badc, word_order::dcba}) {
    const auto f = fmt_of(value_type::float64, order);
    const auto e = encode(point_value{-230.4}, point_of(f));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(std::get<double>(decode(e.words, f).value), -230.4);
  }
}

TEST(codec, signed_integers_sign_extend) {
  EXPECT_EQ(std::get<std::int64_t>(decode(words{0xFFFF, 0xFFFF}, fmt_of(value_type::int32)).value), -1);
  EXPECT_EQ(std::get<std::int64_t>(decode(words{0xFFFE}, fmt_of(value_type::int16)).value), -2);
  EXPECT_EQ(std::get<std::int64_t>(decode(words{0x8000}, fmt_of(value_type::int16)).value), -32768);
  EXPECT_EQ(std::get<std::int64_t>(
                decode(words{0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE}, fmt_of(value_type::int64)).value),
            -2);
  EXPECT_EQ(std::get<std::int64_t>(
                decode(words{0xFFFF, 0x7FFF}, fmt_of(value_type::int32, word_order::cdab)).value),
            0x7FFFFFFF);
  EXPECT_EQ(std::get<std::uint64_t>(decode(words{0xFFFF}, fmt_of(value_type::uint16)).value), 65535U);
  EXPECT_EQ(std::get<std::uint64_t>(decode(words{0xFFFF, 0xFFFF}, fmt_of(value_type::uint32)).value),
            4294967295U);
  // BADC on one register swaps its bytes.
  EXPECT_EQ(std::get<std::uint64_t>(decode(words{0x3412}, fmt_of(value_type::uint16, word_order::badc)).value),
            0x1234U);
}

TEST(codec, uint64_two_to_the_53_stays_exact) {
  const std::uint64_t two_53 = 1ULL << 53;
  EXPECT_EQ(std::get<std::uint64_t>(decode(words{0x0020, 0, 0, 0}, fmt_of(value_type::uint64)).value), two_53);
  // 2^53 + 1 is not a double; it must survive as an integer.
  EXPECT_EQ(std::get<std::uint64_t>(decode(words{0x0020, 0, 0, 1}, fmt_of(value_type::uint64)).value),
            two_53 + 1);
  const auto e = encode(point_value{two_53 + 1}, point_of(fmt_of(value_type::uint64)));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.words, (words{0x0020, 0, 0, 1}));
}

TEST(codec, nan_and_infinities_are_bad_quality) {
  for (const auto& regs : {words{0x7FC0, 0}, words{0x7F80, 0}, words{0xFF80, 0}}) {
    const auto d = decode(regs, fmt_of(value_type::float32));
    EXPECT_FALSE(d.good());
    EXPECT_FALSE(d.error.empty());
  }
  EXPECT_EQ(decode(words{0x7FC0, 0}, fmt_of(value_type::float32)).error, "NaN");
  EXPECT_EQ(decode(words{0xFFF0, 0, 0, 0}, fmt_of(value_type::float64)).error, "-infinity");
  // Finite but huge after scaling is also not a number to publish.
  auto scaled = fmt_of(value_type::float32);
  scaled.scale = 1e300;
  EXPECT_FALSE(decode(words{0x7F7F, 0xFFFF}, scaled).good());
}

TEST(codec, scale_and_offset_make_doubles) {
  auto f = fmt_of(value_type::int16);
  f.scale = 0.1;
  const auto d = decode(words{2304}, f);
  EXPECT_DOUBLE_EQ(std::get<double>(d.value), 230.4);
  f.offset = -40;
  EXPECT_DOUBLE_EQ(std::get<double>(decode(words{0xFFFF}, f).value), -40.1);
  // decode_raw ignores scale and offset, for probe.
  EXPECT_EQ(std::get<std::int64_t>(decode_raw(words{0xFFFF}, f).value), -1);
}

TEST(codec, bools_bits_and_strings) {
  EXPECT_TRUE(std::get<bool>(decode(words{1}, fmt_of(value_type::boolean)).value));
  EXPECT_FALSE(std::get<bool>(decode(words{0}, fmt_of(value_type::boolean)).value));
  auto bit = fmt_of(value_type::boolean);
  bit.bit = 3;
  EXPECT_TRUE(std::get<bool>(decode(words{0x0008}, bit).value));
  EXPECT_FALSE(std::get<bool>(decode(words{0xFFF7}, bit).value));
  bit.bit = 15;
  EXPECT_TRUE(std::get<bool>(decode(words{0x8000}, bit).value));

  auto text = fmt_of(value_type::string);
  text.length = 4;
  EXPECT_EQ(std::get<std::string>(decode(words{0x4142, 0x4320, 0x2000, 0x0000}, text).value), "ABC");
  text.order = word_order::badc;
  EXPECT_EQ(std::get<std::string>(decode(words{0x4241, 0x2043, 0, 0}, text).value), "ABC");
  text.length = 0;
  EXPECT_FALSE(decode(words{0x4142}, text).good());
}

TEST(codec, too_few_registers_is_bad) {
  EXPECT_FALSE(decode(words{1}, fmt_of(value_type::int32)).good());
  EXPECT_FALSE(decode(words{}, fmt_of(value_type::uint16)).good());
}

TEST(codec, every_type_and_order_round_trips) {
  const std::vector<std::pair<value_type, point_value>> values = {
      {value_type::int16, std::int64_t{-1234}},   {value_type::uint16, std::uint64_t{54321}},
      {value_type::int32, std::int64_t{-123456}}, {value_type::uint32, std::uint64_t{3000000000}},
      {value_type::int64, std::int64_t{-(1LL << 60)}}, {value_type::uint64, std::uint64_t{1ULL << 63}},
      {value_type::float32, 0.5},                 {value_type::float64, 1e-300},
  };
  for (const auto& [type, value] : values) {
    for (auto order : {word_order::abcd, word_order::cdab, word_order::badc, word_order::dcba}) {
      const auto f = fmt_of(type, order);
      const auto e = encode(value, point_of(f));
      ASSERT_TRUE(e.ok()) << to_string(type) << " " << e.error;
      EXPECT_EQ(e.words.size(), register_count(f));
      EXPECT_EQ(decode(e.words, f).value, value) << to_string(type) << " " << to_string(order);
    }
  }
}

TEST(codec, encode_checks_min_max_and_type_range) {
  auto f = fmt_of(value_type::int16);
  f.scale = 0.1;
  auto setpoint = point_of(f);
  setpoint.min = 0;
  setpoint.max = 80;
  const auto ok = encode(point_value{42.5}, setpoint);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.words, words{425});
  EXPECT_EQ(encode(point_value{80.5}, setpoint).error, "above max 80");
  EXPECT_EQ(encode(point_value{std::int64_t{-1}}, setpoint).error, "below min 0");
  EXPECT_EQ(encode(point_value{std::nan("")}, setpoint).error, "not a number");

  const auto plain = point_of(fmt_of(value_type::int16));
  EXPECT_EQ(encode(point_value{std::int64_t{40000}}, plain).error, "out of range for int16");
  EXPECT_EQ(encode(point_value{std::int64_t{-32768}}, plain).words, words{0x8000});
  const auto u16 = point_of(fmt_of(value_type::uint16));
  EXPECT_EQ(encode(point_value{std::int64_t{-1}}, u16).error, "out of range for uint16");
  EXPECT_EQ(encode(point_value{65536.0}, u16).error, "out of range for uint16");
  EXPECT_EQ(encode(point_value{std::uint64_t{1ULL << 63}}, point_of(fmt_of(value_type::int64))).error,
            "out of range for int64");
  EXPECT_EQ(encode(point_value{1e39}, point_of(fmt_of(value_type::float32))).error,
            "out of range for float32");
  EXPECT_EQ(encode(point_value{std::string("x")}, plain).error, "expected a number");
}

TEST(codec, encode_coils_bits_and_strings) {
  const auto coil = point_of(fmt_of(value_type::boolean), register_table::coil);
  EXPECT_EQ(encode(point_value{true}, coil).words, words{1});
  EXPECT_EQ(encode(point_value{std::int64_t{0}}, coil).words, words{0});
  EXPECT_FALSE(encode(point_value{2.0}, coil).ok());
  EXPECT_FALSE(encode(point_value{true}, point_of(fmt_of(value_type::boolean), register_table::discrete_input)).ok());
  EXPECT_FALSE(encode(point_value{1.0}, point_of(fmt_of(value_type::uint16), register_table::input_register)).ok());

  auto bit = fmt_of(value_type::boolean);
  bit.bit = 4;
  EXPECT_FALSE(encode(point_value{true}, point_of(bit)).ok());  // needs the register
  EXPECT_EQ(encode(point_value{true}, point_of(bit), std::uint16_t{0x0101}).words, words{0x0111});
  EXPECT_EQ(encode(point_value{false}, point_of(bit), std::uint16_t{0xFFFF}).words, words{0xFFEF});

  auto text = fmt_of(value_type::string);
  text.length = 2;
  EXPECT_EQ(encode(point_value{std::string("ABC")}, point_of(text)).words, (words{0x4142, 0x4300}));
  EXPECT_EQ(encode(point_value{std::string("ABCDE")}, point_of(text)).error, "longer than 4 characters");
}

TEST(codec, check_write_refuses_what_a_bus_must_not_see) {
  point_spec setpoint = point_of(fmt_of(value_type::int16));
  setpoint.min = 0;
  setpoint.max = 80;
  EXPECT_EQ(check_write(setpoint, point_value{std::int64_t{42}}), "");
  EXPECT_EQ(check_write(setpoint, point_value{42.0}), "");
  EXPECT_EQ(check_write(setpoint, point_value{true}), "expected a number");
  EXPECT_EQ(check_write(setpoint, point_value{std::string("42")}), "expected a number");
  EXPECT_EQ(check_write(setpoint, point_value{81.0}), "above max 80");
  EXPECT_EQ(check_write(setpoint, point_value{-1.0}), "below min 0");
  EXPECT_EQ(check_write(setpoint, point_value{std::nan("")}), "not a number");
  EXPECT_EQ(check_write(point_of(fmt_of(value_type::uint16)), point_value{std::int64_t{65536}}),
            "out of range for uint16");
  EXPECT_EQ(check_write(point_of(fmt_of(value_type::int16)), point_value{std::int64_t{-32769}}),
            "out of range for int16");

  const point_spec pump = point_of(fmt_of(value_type::boolean), register_table::coil);
  EXPECT_EQ(check_write(pump, point_value{true}), "");
  EXPECT_EQ(check_write(pump, point_value{std::int64_t{1}}), "expected true or false");
  register_format bit = fmt_of(value_type::uint16);
  bit.bit = 3;
  EXPECT_EQ(check_write(point_of(bit), point_value{false}), "");
  EXPECT_EQ(check_write(point_of(bit), point_value{0.0}), "expected true or false");
  register_format text = fmt_of(value_type::string);
  text.length = 1;
  EXPECT_EQ(check_write(point_of(text), point_value{std::string("ab")}), "");
  EXPECT_EQ(check_write(point_of(text), point_value{std::string("abc")}), "longer than 2 characters");
  EXPECT_EQ(check_write(point_of(text), point_value{1.0}), "expected a string");

  point_spec fixed = point_of(fmt_of(value_type::int16));
  fixed.writable = false;
  EXPECT_EQ(check_write(fixed, point_value{std::int64_t{1}}), "point 'p' is not writable");
}

TEST(codec, write_function_choice) {
  EXPECT_EQ(choose_write_function(register_table::coil, 1, false), write_function::write_single_coil);
  EXPECT_EQ(choose_write_function(register_table::coil, 1, true), write_function::write_multiple_coils);
  EXPECT_EQ(choose_write_function(register_table::coil, 3, false), write_function::write_multiple_coils);
  EXPECT_EQ(choose_write_function(register_table::holding_register, 1, false),
            write_function::write_single_register);
  EXPECT_EQ(choose_write_function(register_table::holding_register, 1, true),
            write_function::write_multiple_registers);
  EXPECT_EQ(choose_write_function(register_table::holding_register, 2, false),
            write_function::write_multiple_registers);
  EXPECT_FALSE(choose_write_function(register_table::input_register, 1, false));
  EXPECT_FALSE(choose_write_function(register_table::discrete_input, 1, false));
}

TEST(codec, parse_value_follows_the_type) {
  EXPECT_EQ(parse_value("true", fmt_of(value_type::boolean)).value, point_value{true});
  EXPECT_EQ(parse_value(" off ", fmt_of(value_type::boolean)).value, point_value{false});
  EXPECT_FALSE(parse_value("maybe", fmt_of(value_type::boolean)).ok());
  EXPECT_EQ(parse_value("-42", fmt_of(value_type::int16)).value, point_value{std::int64_t{-42}});
  EXPECT_EQ(parse_value("18446744073709551615", fmt_of(value_type::uint64)).value,
            point_value{std::uint64_t{18446744073709551615ULL}});
  EXPECT_EQ(parse_value("1.5", fmt_of(value_type::float32)).value, point_value{1.5});
  EXPECT_EQ(parse_value("12.5", fmt_of(value_type::int16)).value, point_value{12.5});
  EXPECT_EQ(parse_value("hello ", fmt_of(value_type::string)).value, point_value{std::string("hello ")});
  EXPECT_FALSE(parse_value("12abc", fmt_of(value_type::int32)).ok());
}

TEST(codec, to_text_is_exact) {
  EXPECT_EQ(to_text(point_value{std::uint64_t{(1ULL << 53) + 1}}), "9007199254740993");
  EXPECT_EQ(to_text(point_value{230.4}), "230.4");
  EXPECT_EQ(to_text(point_value{true}), "true");
  EXPECT_EQ(to_text(point_value{std::int64_t{-1}}), "-1");
}

}  // namespace
}  // namespace fieldbridge::drivers
