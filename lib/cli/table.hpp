// Plain aligned columns for human output (the --json forms are for programs).
#pragma once

#include <string>
#include <vector>

namespace cug::cli {

class Table {
  public:
    explicit Table(std::vector<std::string> headers) : rows_{std::move(headers)} {}
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    std::size_t size() const { return rows_.size() - 1; }
    // Left-aligned, two spaces between columns, no trailing blanks.
    std::string render() const;

  private:
    std::vector<std::vector<std::string>> rows_;
};

}  // namespace cug::cli
