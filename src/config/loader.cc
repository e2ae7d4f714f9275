// Entry points of src/config: read the file, parse YAML, walk the sections,
// sort the errors. yaml-cpp reports syntax errors by exception; they stop
// here and become ordinary errors.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <yaml-cpp/eventhandler.h>

#include "config/config.h"
#include "config/keys.h"
#include "config/sections.h"
#include "config/yaml_walk.h"

namespace gh::config {
namespace {

// Far beyond any real config; keeps a mistaken `-c /dev/zero` or a huge
// file from eating memory.
constexpr size_t kMaxFileBytes = 1 << 20;

LoadResult single_error(const std::string& file, std::string message) {
  LoadResult r;
  r.errors.push_back(Error{file, 1, 1, std::move(message)});
  return r;
}

std::filesystem::path base_dir_of(const std::string& name) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(name).parent_path();
  if (dir.empty()) dir = ".";
  std::filesystem::path abs = std::filesystem::absolute(dir, ec);
  if (ec) return dir;
  abs = abs.lexically_normal();
  // "/etc/gh/." normalizes to "/etc/gh/"; drop the slash for tidy messages.
  if (!abs.has_filename() && abs.has_parent_path() && abs != abs.root_path()) abs = abs.parent_path();
  return abs;
}

// Records where each document's root node starts. yaml-cpp 0.7's LoadAll
// loops forever, allocating a null document per turn, when a document starts
// with a token its parser does not consume (a lone ',': yaml-cpp issue #1040,
// fixed in 0.8). So documents are counted with a bounded loop over these
// events, and only the first one is built as nodes.
class DocumentRoots : public YAML::EventHandler {
 public:
  std::vector<YAML::Mark> marks;
  void OnDocumentStart(const YAML::Mark&) override { want_ = true; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { node(m); }
  void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override {
    node(m);
  }
  void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(m);
  }
  void OnMapEnd() override {}

 private:
  void node(const YAML::Mark& m) {
    if (want_) marks.push_back(m);
    want_ = false;
  }
  bool want_ = false;
};

void walk(detail::Ctx& ctx, const YAML::Node& root, Config& cfg) {
  using namespace detail;
  Value top{root, root.Mark(), "the file"};
  std::vector<Entry> entries = map_entries(ctx, top, "top level", keys::kTop);
  // ssl and admin are checked against server's ports, so server goes first
  // whatever the order in the file.
  for (const char* section : {"server", "ssl", "admin", "redis"}) {
    for (const Entry& e : entries) {
      if (e.key != section) continue;
      if (e.key == "server") load_server(ctx, e.value, cfg.server);
      else if (e.key == "ssl") load_ssl(ctx, e.value, cfg.server, cfg.ssl);
      else if (e.key == "admin") load_admin(ctx, e.value, cfg.server, cfg.ssl, cfg.admin);
      else load_redis(ctx, e.value, cfg.redis.emplace());
    }
  }
  finish_redis(ctx, cfg);
  // streams last: their listeners are checked against every other one.
  for (const Entry& e : entries)
    if (e.key == "streams") load_streams(ctx, e.value, cfg, cfg.streams);
  finish_acme(ctx, cfg);
}

LoadResult load_text(const std::string& text, const std::string& name) {
  detail::Ctx ctx;
  ctx.file = name;
  ctx.base_dir = base_dir_of(name);
  if (text.size() > kMaxFileBytes) {
    return single_error(name, "file is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
  }
  DocumentRoots docs;
  YAML::Node root;
  try {
    std::istringstream in(text);
    YAML::Parser parser(in);
    for (int i = 0; i < 3 && parser.HandleNextDocument(docs); ++i) {
    }
    // Two documents at the same place: the parser is stuck on a token there.
    for (size_t i = 1; i < docs.marks.size(); ++i) {
      if (docs.marks[i].pos != docs.marks[i - 1].pos) continue;
      const size_t at = static_cast<size_t>(docs.marks[i].pos);
      ctx.error(docs.marks[i], "YAML syntax error: unexpected " +
                                   (at < text.size() ? "'" + text.substr(at, 1) + "'" : std::string("token")));
      return LoadResult{std::nullopt, std::move(ctx.errors), {}};
    }
    if (!docs.marks.empty()) root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    ctx.error(e.mark, "YAML syntax error: " + e.msg);
    return LoadResult{std::nullopt, std::move(ctx.errors), {}};
  }
  Config cfg;
  cfg.file = name;
  if (docs.marks.size() > 1) {
    ctx.error(docs.marks[1], "only one YAML document is allowed (remove the second '---')");
  }
  if (!docs.marks.empty()) walk(ctx, root, cfg);

  auto by_position = [](const Error& a, const Error& b) {
    return a.line != b.line ? a.line < b.line : a.col < b.col;
  };
  std::stable_sort(ctx.errors.begin(), ctx.errors.end(), by_position);
  std::stable_sort(ctx.warnings.begin(), ctx.warnings.end(), by_position);
  if (ctx.too_many) {
    ctx.errors.push_back(Error{name, ctx.errors.back().line, ctx.errors.back().col,
                               "too many errors; only the first " +
                                   std::to_string(detail::Ctx::kMaxErrors) + " are shown"});
  }
  LoadResult r;
  if (ctx.errors.empty()) r.config = std::move(cfg);
  r.errors = std::move(ctx.errors);
  r.warnings = std::move(ctx.warnings);
  return r;
}

}  // namespace

std::string Error::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " +
         (warning ? "warning: " : "") + message;
}

LoadResult load_string(const std::string& text, const std::string& name) {
  try {
    return load_text(text, name);
  } catch (const std::exception& e) {
    // yaml-cpp may throw from node access on input we did not foresee; a
    // config error is still the right answer, never a crash.
    return single_error(name, std::string("cannot load config: ") + e.what());
  } catch (...) {
    return single_error(name, "cannot load config: unknown error");
  }
}

LoadResult load_file(const std::string& path) {
  try {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) return single_error(path, "cannot read file: is a directory");
    std::ifstream in(path, std::ios::binary);
    if (!in) return single_error(path, std::string("cannot read file: ") + std::strerror(errno));
    std::string text;
    char buf[16384];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > kMaxFileBytes) {
        return single_error(path, "file is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
      }
    }
    if (in.bad()) return single_error(path, std::string("cannot read file: ") + std::strerror(errno));
    return load_string(text, path);
  } catch (const std::exception& e) {
    return single_error(path, std::string("cannot load config: ") + e.what());
  }
}

}  // namespace gh::config
