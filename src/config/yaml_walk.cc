#include "config/yaml_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "config/did_you_mean.h"
#include "config/keys.h"
#include "core/units.h"

namespace gh::config::detail {
const char* kind_of(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a single value";
    default: return "nothing";
  }
}

namespace {

bool is_quoted(const YAML::Node& n) { return n.Tag() == "!"; }

}  // namespace

std::string shown(std::string_view s, size_t max_chars) {
  std::string out = "'";
  size_t n = 0;
  for (unsigned char c : s) {
    if (++n > max_chars) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

std::optional<uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

namespace {

// The one other section where `key` is known, if there is exactly one.
std::optional<std::string_view> only_home_of(std::string_view key, std::string_view here) {
  // A streams entry reuses route and server key names (backends, balance,
  // health_check, timeouts): it is asked last, so those keys still point to
  // their first home.
  for (bool streams : {false, true}) {
    std::optional<std::string_view> home;
    for (const keys::Section& s : keys::kSections) {
      if (s.name == here || s.name.starts_with("stream") != streams) continue;
      for (std::string_view k : s.keys) {
        if (k != key) continue;
        if (home) return std::nullopt;
        home = s.name;
      }
    }
    if (home) return home;
  }
  return std::nullopt;
}

}  // namespace

void Ctx::error(const YAML::Mark& at, std::string message) {
  if (errors.size() >= kMaxErrors) {
    too_many = true;
    return;
  }
  Mark m = to_mark(at);
  errors.push_back(Error{file, m.line, m.col, std::move(message)});
}

void Ctx::warn(const YAML::Mark& at, std::string message) {
  if (warnings.size() >= kMaxErrors) return;
  Mark m = to_mark(at);
  warnings.push_back(Error{file, m.line, m.col, std::move(message), true});
}

Mark to_mark(const YAML::Mark& m) {
  if (m.is_null() || m.line < 0 || m.column < 0) return Mark{1, 1};
  return Mark{m.line + 1, m.column + 1};
}

std::vector<Entry> map_entries(Ctx& ctx, const Value& v, std::string_view section,
                               std::span<const std::string_view> known) {
  std::vector<Entry> out;
  if (!v.node.IsDefined() || v.node.IsNull()) return out;
  if (!v.node.IsMap()) {
    ctx.error(v.mark, v.name + " must be a map of settings, got " + kind_of(v.node));
    return out;
  }
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    // Copies: yaml-cpp's iterator hands out a temporary pair.
    YAML::Node k = it->first;
    YAML::Node val = it->second;
    if (!k.IsScalar()) {
      ctx.error(k.Mark(), std::string("a key in ") + std::string(section) + " must be a name, got " +
                              kind_of(k));
      continue;
    }
    std::string key = k.Scalar();
    bool is_known = false;
    for (std::string_view name : known) is_known = is_known || name == key;
    if (!is_known) {
      std::string msg = "unknown key " + shown(key) +
                        (section == "top level" ? " at " : " in ") + std::string(section);
      if (auto near = closest(key, known)) {
        msg += "; did you mean '" + std::string(*near) + "'?";
      } else if (auto home = only_home_of(key, section)) {
        msg += "; it belongs in " +
               (*home == "route" ? std::string("a reverse_proxy route") : std::string(*home));
      }
      ctx.error(k.Mark(), std::move(msg));
      continue;
    }
    bool dup = false;
    for (const Entry& e : out) {
      if (e.key != key) continue;
      Mark first = to_mark(e.key_mark);
      ctx.error(k.Mark(), "duplicate key '" + key + "' in " + std::string(section) +
                              " (first at line " + std::to_string(first.line) + ")");
      dup = true;
      break;
    }
    if (dup) continue;
    YAML::Mark vm = val.IsNull() || val.Mark().is_null() ? k.Mark() : val.Mark();
    out.push_back(Entry{key, k.Mark(), Value{val, vm, "'" + key + "'"}});
  }
  return out;
}

std::vector<Value> list_items(Ctx& ctx, const Value& v) {
  std::vector<Value> out;
  if (!v.node.IsDefined() || v.node.IsNull()) return out;
  if (!v.node.IsSequence()) {
    ctx.error(v.mark, v.name + " must be a list, got " + kind_of(v.node));
    return out;
  }
  for (auto it = v.node.begin(); it != v.node.end(); ++it) {
    YAML::Node item = *it;
    YAML::Mark m = item.IsNull() || item.Mark().is_null() ? v.mark : item.Mark();
    out.push_back(Value{item, m, "an entry of " + v.name});
  }
  return out;
}

std::optional<std::string> read_text(Ctx& ctx, const Value& v, std::string_view expected) {
  if (!v.node.IsDefined() || v.node.IsNull()) {
    ctx.error(v.mark, v.name + " needs a value (" + std::string(expected) + ")");
    return std::nullopt;
  }
  if (!v.node.IsScalar()) {
    ctx.error(v.mark, v.name + " must be " + std::string(expected) + ", got " + kind_of(v.node));
    return std::nullopt;
  }
  const std::string& s = v.node.Scalar();
  for (unsigned char c : s) {
    // Tabs and line breaks only make sense in free text, which we have none of.
    if (c < 0x20 || c == 0x7f) {
      ctx.error(v.mark, v.name + " must not contain control characters, got " + shown(s));
      return std::nullopt;
    }
  }
  return s;
}

std::optional<std::string> read_string(Ctx& ctx, const Value& v) {
  auto s = read_text(ctx, v, "a string");
  if (s && s->empty()) {
    ctx.error(v.mark, v.name + " must not be empty");
    return std::nullopt;
  }
  return s;
}

std::optional<bool> read_bool(Ctx& ctx, const Value& v) {
  auto s = read_text(ctx, v, "true or false");
  if (!s) return std::nullopt;
  if (!is_quoted(v.node)) {
    static constexpr std::string_view yes[] = {"true", "True", "TRUE", "yes", "Yes",
                                               "YES",  "on",   "On",   "ON"};
    static constexpr std::string_view no[] = {"false", "False", "FALSE", "no", "No",
                                              "NO",    "off",   "Off",   "OFF"};
    for (std::string_view w : yes) {
      if (*s == w) return true;
    }
    for (std::string_view w : no) {
      if (*s == w) return false;
    }
  }
  std::string msg = v.name + " must be true or false, got " + shown(*s);
  if (is_quoted(v.node)) msg += " in quotes (write it without quotes)";
  ctx.error(v.mark, std::move(msg));
  return std::nullopt;
}

std::optional<uint64_t> read_uint(Ctx& ctx, const Value& v, uint64_t lo, uint64_t hi) {
  std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  auto s = read_text(ctx, v, range);
  if (!s) return std::nullopt;
  auto n = parse_decimal(*s);
  if (!n || *n < lo || *n > hi) {
    ctx.error(v.mark, v.name + " must be " + range + ", got " + shown(*s));
    return std::nullopt;
  }
  return n;
}

std::optional<uint16_t> read_port(Ctx& ctx, const Value& v) {
  auto n = read_uint(ctx, v, 1, 65535);
  if (!n) return std::nullopt;
  return static_cast<uint16_t>(*n);
}

std::optional<Duration> read_duration(Ctx& ctx, const Value& v, Duration min) {
  auto s = read_text(ctx, v, "a duration");
  if (!s) return std::nullopt;
  if (!s->empty() && (*s)[0] == '-') {
    ctx.error(v.mark, v.name + " must not be negative, got " + shown(*s));
    return std::nullopt;
  }
  auto d = core::parse_duration(*s);
  if (!d) {
    ctx.error(v.mark, v.name + " must be a duration like 250ms, 10s, 5m, 1h or 1m30s (at most " +
                          core::format_duration(core::kMaxDuration) + "), got " + shown(*s));
    return std::nullopt;
  }
  if (*d < min) {
    std::string need = min == Duration(1) ? "more than 0s" : "at least " + core::format_duration(min);
    ctx.error(v.mark, v.name + " must be " + need + ", got " + shown(*s));
    return std::nullopt;
  }
  return *d;
}

// "1k", "1m" or plain bytes: the readable form of a size limit.
static std::string size_text(uint64_t n) {
  if (n != 0 && n % (1ULL << 30) == 0) return std::to_string(n >> 30) + "g";
  if (n != 0 && n % (1ULL << 20) == 0) return std::to_string(n >> 20) + "m";
  if (n != 0 && n % (1ULL << 10) == 0) return std::to_string(n >> 10) + "k";
  return std::to_string(n);
}

std::optional<uint64_t> read_size(Ctx& ctx, const Value& v, uint64_t lo, uint64_t hi) {
  auto s = read_text(ctx, v, "a size");
  if (!s) return std::nullopt;
  auto n = core::parse_size(*s);
  if (!n) {
    ctx.error(v.mark, v.name + " must be a size like 512, 16k, 1m or 2g, got " + shown(*s));
    return std::nullopt;
  }
  if (*n < lo || *n > hi) {
    ctx.error(v.mark, v.name + " must be from " + size_text(lo) + " to " + size_text(hi) +
                          ", got " + shown(*s));
    return std::nullopt;
  }
  return n;
}

void enum_error(Ctx& ctx, const Value& v, std::string_view got,
                std::span<const std::string_view> choices) {
  std::string msg = v.name + " must be ";
  if (choices.size() == 1) {
    msg += "'" + std::string(choices[0]) + "'";
  } else {
    msg += "one of ";
    for (size_t i = 0; i < choices.size(); ++i) {
      if (i) msg += ", ";
      msg += choices[i];
    }
  }
  msg += "; got " + shown(got);
  if (auto near = closest(got, choices)) msg += " (did you mean '" + std::string(*near) + "'?)";
  ctx.error(v.mark, std::move(msg));
}

std::optional<std::string> read_file_path(Ctx& ctx, const Value& v, bool must_read) {
  auto s = read_string(ctx, v);
  if (!s) return std::nullopt;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path given(*s);
  fs::path chosen = given.is_absolute() ? given : ctx.base_dir / given;
  if (!given.is_absolute() && !fs::exists(chosen, ec)) {
    // PyServe users write paths relative to where they start the server.
    fs::path cwd_rel = fs::absolute(given, ec);
    if (!ec && fs::exists(cwd_rel, ec)) chosen = cwd_rel;
  }
  chosen = chosen.lexically_normal();
  if (!must_read) return chosen.string();

  int fd = ::open(chosen.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    int err = errno;
    std::string msg = v.name + " " + shown(*s, 4096) + ": " + std::strerror(err);
    if (err == ENOENT && !given.is_absolute()) {
      msg += " (looked in " + ctx.base_dir.string() + " and in the working directory)";
    }
    ctx.error(v.mark, std::move(msg));
    return std::nullopt;
  }
  struct stat st {};
  bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  ::close(fd);
  if (!regular) {
    ctx.error(v.mark, v.name + " " + shown(*s, 4096) + " is not a regular file");
    return std::nullopt;
  }
  return chosen.string();
}

}  // namespace gh::config::detail
