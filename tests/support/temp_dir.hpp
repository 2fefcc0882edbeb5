// A temporary directory removed with everything in it when the owner goes.
#pragma once

#include <filesystem>
#include <string>

namespace fieldbridge::test {

class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "fieldbridge-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  // Writes `text` to a file in the directory and returns its path.
  std::filesystem::path write_file(const std::string& name, const std::string& text) const;

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path);

}  // namespace fieldbridge::test
