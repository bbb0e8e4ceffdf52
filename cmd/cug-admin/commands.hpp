// cug-admin's subcommands: each file registers its own with CLI11 and sets the
// action to run once the command line has been parsed.
#pragma once

#include "core/result.hpp"
#include "store/store.hpp"

#include <CLI/CLI.hpp>

#include <functional>
#include <optional>
#include <string>

namespace cug::admin {

struct Context {
    std::string store_dir;
    double lock_timeout = 10;
    std::string cugd_socket;               // told to reconcile after a change
    store::Actor actor;                    // who runs the command (root, not the owner)
    std::function<Result<void>()> action;  // what the chosen subcommand does
    // The store's generation when the command first opened it.
    mutable std::optional<std::uint64_t> generation_before;

    // Run as root, first becomes the store's owner (cli::act_as_owner_of),
    // for good: read what root alone may read before this.
    Result<void> become_owner() const;
    Result<store::Store> open_store() const;
    store::Options options() const;
};

void add_init_command(CLI::App& app, Context& ctx);
void add_user_commands(CLI::App& app, Context& ctx);
void add_group_commands(CLI::App& app, Context& ctx);
void add_member_commands(CLI::App& app, Context& ctx);
void add_audit_command(CLI::App& app, Context& ctx);
void add_check_command(CLI::App& app, Context& ctx);
void add_server_command(CLI::App& app, Context& ctx);
void add_card_commands(CLI::App& app, Context& ctx);
void add_session_commands(CLI::App& app, Context& ctx);

// Prints to stdout: text as is, or a JSON document.
void print(const std::string& text);

}  // namespace cug::admin
