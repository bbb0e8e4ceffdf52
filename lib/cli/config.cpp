#include "cli/config.hpp"

#include <fmt/core.h>

#include <iterator>
#include <map>
#include <sstream>
#include <vector>

namespace cug::cli {

namespace {

// Where each value of the file that was read came from.
struct ConfigLines {
    std::string file;
    std::map<std::string, int> line_of;  // long option name ("--mtu") -> line
};

// CLI11's reader (ConfigTOML, which is lenient and line based), made strict:
// CLI11 2.1 drops unknown keys silently or reports them without a place, so
// this checks every item against the program before CLI11 applies it.
class LocatedConfig : public CLI::ConfigTOML {
  public:
    explicit LocatedConfig(const CLI::App& root) : root_(root) {}

    std::vector<CLI::ConfigItem> from_config(std::istream& in) const override {
        const std::string text{std::istreambuf_iterator<char>(in), {}};
        std::istringstream all(text);
        auto read = CLI::ConfigTOML::from_config(all);
        const std::string file = root_.get_config_ptr()->as<std::string>();
        lines_.file = file;
        lines_.line_of.clear();

        // Each physical line read alone gives the keys it holds: the items
        // above come in the same order, so they pair up key by key. (The
        // continuation lines of a multi-line array read as junk keys, which
        // pair with nothing.)
        std::vector<std::pair<std::string, int>> located;
        std::istringstream physical(text);
        std::string raw;
        for (int no = 1; std::getline(physical, raw); ++no) {
            std::istringstream one(raw + "\n");
            for (const auto& item : CLI::ConfigTOML::from_config(one))
                located.emplace_back(item.fullname(), no);
        }
        std::size_t cursor = 0;
        std::map<std::string, int> seen;
        for (const auto& item : read) {
            int line = 0;
            for (std::size_t i = cursor; i < located.size(); ++i)
                if (located[i].first == item.fullname()) {
                    line = located[i].second;
                    cursor = i + 1;
                    break;
                }
            const std::string where = fmt::format("{}:{}: ", file, line);
            if (!item.parents.empty())
                throw CLI::ConfigError(where + "sections are not used in this file ('" +
                                       CLI::detail::join(item.parents, ".") + "')");
            const CLI::Option* op = root_.get_option_no_throw("--" + item.name);
            if (!op || op->get_group().empty())
                throw CLI::ConfigError(where + "unknown key '" + item.name + "'");
            if (!op->get_configurable())
                throw CLI::ConfigError(where + "'" + item.name +
                                       "' cannot be set in a configuration file");
            const bool repeatable = op->get_expected_max() > 1;
            if (auto [at, fresh] = seen.emplace(item.name, line); !fresh && !repeatable)
                throw CLI::ConfigError(where + "'" + item.name + "' is set twice (first on line " +
                                       std::to_string(at->second) + ")");
            // What the command line gave, CLI11 keeps; only the file's own
            // values can fail because of the file.
            if (op->count() == 0) lines_.line_of.emplace(op->get_name(), line);
        }
        return read;
    }

    std::string origin(const std::string& long_name) const {
        auto at = lines_.line_of.find(long_name);
        if (at == lines_.line_of.end()) return "";
        return fmt::format("{}:{}: ", lines_.file, at->second);
    }

  private:
    const CLI::App& root_;
    mutable ConfigLines lines_;  // from_config is const in CLI11's interface
};

}  // namespace

CLI::Option* add_config(CLI::App& app, const std::string& default_file) {
    auto* option =
        app.set_config("--config", default_file, "read settings from this file (see cug.conf(5))");
    option->type_name("FILE");
    app.config_formatter(std::make_shared<LocatedConfig>(app));
    return option;
}

std::string config_origin(const CLI::App& app, const std::string& long_name) {
    auto located = std::dynamic_pointer_cast<LocatedConfig>(app.get_config_formatter());
    return located ? located->origin(long_name) : "";
}

}  // namespace cug::cli
