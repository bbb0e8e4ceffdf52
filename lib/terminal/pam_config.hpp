// What pam_cug.so is told (man/pam_cug.8): its arguments in the PAM file,
// and the map file that says which local users a card's user may log in as.
// Nothing here knows libpam: the module (cmd/pam_cug) is the glue.
#pragma once

#include "core/paths.hpp"
#include "core/result.hpp"

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

namespace cug::terminal {

// Which local users the user ID on a card may log in as. Lines of the file:
//   CARD-USER LOCAL-USER...     (whitespace between; '#' starts a comment)
class UserMap {
  public:
    bool allows(const std::string& card_user, const std::string& local_user) const;
    std::size_t size() const { return pairs_; }

  private:
    friend Result<UserMap> parse_user_map(std::string_view text);
    std::map<std::string, std::set<std::string>> locals_;
    std::size_t pairs_ = 0;
};

inline constexpr std::size_t max_user_map_bytes = 1 << 20;

// Errors name the line: "line 3: ...".
Result<UserMap> parse_user_map(std::string_view text);
// The file must be a regular file (not a link) that only root can change:
// whoever could write it could log in as anyone.
Result<UserMap> load_user_map(const std::filesystem::path& file);

struct PamOptions {
    std::string interface = "cug0";
    std::filesystem::path socket_dir{std::string(paths::run_dir)};
    std::optional<std::string> reader;
    std::string server;                        // HOST[:PORT]; empty: the server named on the card
    std::optional<std::filesystem::path> map;  // none: the card's user is the local user
    // No reader, no card, no pcscd: fail (PAM_AUTHINFO_UNAVAIL) or ignore
    // (PAM_IGNORE, for stacks where the card is one way in of several).
    bool ignore_no_card = false;
    std::chrono::seconds timeout{10};  // each step with cugd and cug-tun
    bool debug = false;
    // Read by libpam's pam_get_authtok itself; accepted here.
    bool use_first_pass = false, try_first_pass = false;
};

// The module's arguments (argv of its line in the PAM file); every one is
// checked, and an unknown one is an error (a typo must not change a login).
Result<PamOptions> parse_pam_options(std::span<const std::string_view> args);

// Whether the card's user may open this local user's login.
bool card_user_may_log_in(const std::optional<UserMap>& map, const std::string& card_user,
                          const std::string& local_user);

}  // namespace cug::terminal
