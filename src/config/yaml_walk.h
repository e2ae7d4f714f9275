// Reading yaml-cpp nodes into typed values while collecting FILE:LINE:COL
// errors. Internal to src/config: nothing here is seen by other layers.
//
// Every reader reports its own error and returns nothing on failure, so the
// section loaders just keep the default and carry on to find more errors.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"

namespace gh::config::detail {

// State of one load: where errors go and what relative paths are relative to.
struct Ctx {
  std::string file;                 // FILE in messages
  std::filesystem::path base_dir;   // absolute directory of the config file
  std::vector<Error> errors;
  std::vector<Error> warnings;
  bool too_many = false;            // errors beyond kMaxErrors were dropped
  // Where `store: redis` was written: each needs the top-level `redis`
  // section, which may come later in the file (checked by finish_redis).
  std::vector<YAML::Mark> redis_stores;
  // ssl.acme: where each name of an explicit `domains` was written (parallel
  // to Acme::domains), or, with `domains` left out, where ssl.acme is; the
  // names sni streams pass through are checked by finish_acme.
  std::vector<YAML::Mark> acme_domain_marks;
  std::optional<YAML::Mark> acme_defaulted;

  static constexpr size_t kMaxErrors = 200;

  // Records an error at a yaml-cpp (0-based) mark; a null mark becomes 1:1.
  void error(const YAML::Mark& at, std::string message);
  // Records a warning the same way: the setting is unusual (it may do less
  // than it seems to) but has a meaning, so the config still loads. For a
  // combination with no sensible meaning use error().
  void warn(const YAML::Mark& at, std::string message);
};

// 1-based copy of a yaml-cpp mark.
Mark to_mark(const YAML::Mark& m);

// A node to read plus how to talk about it.
struct Value {
  YAML::Node node;
  YAML::Mark mark;     // the value's position, or its key's when the value is empty
  std::string name;    // for messages: "'port'", "an entry of 'domains'"
};

// One known key of a map, in file order.
struct Entry {
  std::string key;
  YAML::Mark key_mark;
  Value value;
};

// Entries of a map. Null (an empty value) counts as an empty map. Reports and
// skips: a value that is not a map, keys that are not plain scalars, duplicate
// keys (the later one), and keys not in `known` (with a did-you-mean hint, or
// where the key belongs when it is known in exactly one other section).
std::vector<Entry> map_entries(Ctx& ctx, const Value& v, std::string_view section,
                               std::span<const std::string_view> known);

// Items of a list; null counts as empty. Reports a value that is not a list.
// Items are named "an entry of <name>".
std::vector<Value> list_items(Ctx& ctx, const Value& v);

// Scalar text; refuses null, maps and lists, NUL and other control bytes.
std::optional<std::string> read_text(Ctx& ctx, const Value& v, std::string_view expected);
// Like read_text, and refuses the empty string.
std::optional<std::string> read_string(Ctx& ctx, const Value& v);
// true/false, yes/no, on/off (lower, Capitalised or UPPER case, unquoted, as
// PyYAML reads them). Refuses anything else, quoted words included ("false"
// in quotes is a true-ish string to PyServe).
std::optional<bool> read_bool(Ctx& ctx, const Value& v);
// Decimal integer in [lo, hi], no sign, no leading zeros, quotes allowed.
std::optional<uint64_t> read_uint(Ctx& ctx, const Value& v, uint64_t lo, uint64_t hi);
std::optional<uint16_t> read_port(Ctx& ctx, const Value& v);
// core::parse_duration syntax, at least `min`.
std::optional<Duration> read_duration(Ctx& ctx, const Value& v, Duration min);
// The `min` for durations that must be more than 0s (timeouts, intervals).
inline constexpr Duration kPositive{1};
// core::parse_size syntax, within [lo, hi].
std::optional<uint64_t> read_size(Ctx& ctx, const Value& v, uint64_t lo, uint64_t hi);

// One of a fixed set of words; the message lists them all.
template <typename T>
std::optional<T> read_enum(Ctx& ctx, const Value& v,
                           std::initializer_list<std::pair<std::string_view, T>> choices);

// Makes a file path from the config absolute: relative to the config file's
// directory, or failing that to the working directory when the file is only
// there. With `must_read`, reports a path that is missing, not a regular file
// or not readable.
std::optional<std::string> read_file_path(Ctx& ctx, const Value& v, bool must_read);

// "a map", "a list", "a single value" or "nothing", for type errors.
const char* kind_of(const YAML::Node& n);

// A user's value for a message: in single quotes, control bytes escaped,
// cut after 60 bytes.
std::string shown(std::string_view s, size_t max_chars = 60);

// A plain decimal integer: digits only, no sign, no leading zeros, at most
// 19 digits (so it fits 64 bits). Refuses anything else.
std::optional<uint64_t> parse_decimal(std::string_view s);

// Error for an enum value: lists the choices and suggests a close one.
void enum_error(Ctx& ctx, const Value& v, std::string_view got,
                std::span<const std::string_view> choices);

template <typename T>
std::optional<T> read_enum(Ctx& ctx, const Value& v,
                           std::initializer_list<std::pair<std::string_view, T>> choices) {
  std::optional<std::string> text = read_text(ctx, v, "a word");
  if (!text) return std::nullopt;
  for (const auto& [word, value] : choices) {
    if (*text == word) return value;
  }
  std::vector<std::string_view> words;
  for (const auto& c : choices) words.push_back(c.first);
  enum_error(ctx, v, *text, words);
  return std::nullopt;
}

}  // namespace gh::config::detail
