// A directory of a test's own under the system's temp directory, for the
// files it loads (configs, rule files, key sets); removed with the object.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace gh::testing {

class TempDir {
 public:
  // `tag` names it ("gh-<tag>-<pid>"), so leftovers say whose they were.
  explicit TempDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() / ("gh-" + tag + "-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `text` (bytes as they are) to `name` in the directory; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::filesystem::path p = path_ / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace gh::testing
