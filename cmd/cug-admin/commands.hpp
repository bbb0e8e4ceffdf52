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
    std::function<Result<void>()> action;  // what the chosen subcommand does

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
