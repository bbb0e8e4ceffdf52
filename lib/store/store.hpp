// The server's store: one LMDB environment in one directory, the single source
// of truth (DESIGN.md, "Server store").
//
// Every logical change is one write transaction with full fsync, run through
// Store::write(); a crash at any instant leaves the old or the new state. Many
// processes may open the same store; writers queue on a lock file with a
// timeout (so a stuck writer is reported, not waited on forever), readers never
// block. The map grows by itself when a transaction fills it.
#pragma once

#include "core/result.hpp"
#include "crypto/p256.hpp"
#include "crypto/password.hpp"
#include "crypto/x509.hpp"
#include "store/records.hpp"

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

typedef struct MDB_txn MDB_txn;

namespace cug::store {

// Who makes a change, for the audit log.
struct Actor {
    std::uint32_t uid = 0;
    std::string name;     // "root", or "root via sudo by alice"
    std::string program;  // "cug-admin"
    // The calling process's real user (and SUDO_USER when run through sudo).
    static Actor current(std::string program);
};

struct Options {
    // How long a writer waits for another process's write transaction.
    std::chrono::milliseconds lock_timeout{10'000};
    // The map a newly opened environment starts with; it doubles when full.
    std::size_t initial_map_size = std::size_t{64} << 20;
};

struct InitParams {
    std::string server_name;
    crypto::Argon2Params password_params;
    std::uint64_t audit_limit = 100'000;   // entries kept; the oldest go first
    std::uint64_t noise_limit = 10'000;    // the same for the noise ring
    std::int64_t certificate_days = 3650;  // validity of the server certificate
};

// Which of the store's databases (for statistics and checks).
enum class Table {
    meta,
    counters,
    users,
    groups,
    members,
    addresses,
    sessions,
    session_ids,
    audit,
    noise
};
inline constexpr Table all_tables[] = {
    Table::meta,      Table::counters, Table::users,       Table::groups, Table::members,
    Table::addresses, Table::sessions, Table::session_ids, Table::audit,  Table::noise};
const char* table_name(Table);

struct Databases;  // the open LMDB handles, private to the store

// A consistent snapshot of the store. Everything read from it is a copy.
class ReadTxn {
  public:
    ReadTxn(const ReadTxn&) = delete;
    ReadTxn& operator=(const ReadTxn&) = delete;

    std::uint64_t generation() const;  // moves with every committed change
    std::string server_name() const;
    Result<crypto::PrivateKey> server_key() const;
    Result<crypto::Certificate> server_certificate() const;
    Result<crypto::Argon2Params> password_params() const;
    std::uint64_t audit_limit() const;
    std::uint64_t noise_limit() const;
    // The DNS zone terminals resolve members' names in ("cug." unless set).
    std::string dns_zone() const;

    Result<std::optional<User>> find_user(std::string_view name) const;
    Result<User> user(std::string_view name) const;  // Errc::not_found if absent
    // Visits users in name order; stops at the first error fn returns.
    Result<void> for_each_user(const std::function<Result<void>(const User&)>& fn) const;

    Result<std::optional<Group>> find_group(std::string_view name) const;
    Result<Group> group(std::string_view name) const;
    Result<std::vector<Group>> groups() const;  // in name order

    Result<std::optional<Membership>> find_membership(std::string_view user,
                                                      std::string_view group) const;
    Result<std::vector<Membership>> memberships_of(std::string_view user) const;  // by group
    Result<std::vector<Membership>> members_of(std::string_view group) const;     // by address
    // The registration table: sessions by user, or by session id.
    Result<std::optional<Session>> find_session(std::string_view user) const;
    Result<std::optional<Session>> find_session_by_id(ByteView id) const;
    Result<std::vector<Session>> sessions() const;  // in user order

    // Every membership, in (group, address) order.
    Result<void> for_each_member(const std::function<Result<void>(const Membership&)>& fn) const;

    // Audit entries with time >= since (unix seconds), oldest first, at most `limit`
    // (the newest `limit` of them when more match).
    Result<std::vector<AuditEntry>> audit(std::int64_t since, std::size_t limit) const;
    // The same for the noise ring (minutes >= since).
    Result<std::vector<NoiseEntry>> noise(std::int64_t since, std::size_t limit) const;

    std::uint64_t entries(Table) const;  // number of entries in a database

    // Verifies every invariant the store promises; returns what is wrong (empty = fine).
    Result<std::vector<std::string>> check() const;

  protected:
    ReadTxn(MDB_txn* txn, const Databases& dbs) : txn_(txn), dbs_(dbs) {}
    friend class Store;

    Result<std::optional<Bytes>> get(Table, ByteView key) const;
    Result<Membership> membership_at(ByteView address_key, ByteView user) const;
    std::uint64_t meta_u64(std::string_view key) const;

    MDB_txn* txn_;
    const Databases& dbs_;
};

// A write transaction. Every method that changes something also appends its
// audit entry; a failed method leaves the transaction unusable for commit.
class WriteTxn : public ReadTxn {
  public:
    // Revocation happens in the transaction that decides it (DESIGN.md,
    // "Rotation and revocation"): removing or disabling a user, or changing
    // its card, ends its session in the store at once, and a membership
    // removed takes its group (its receiver index) from the live session, so
    // no session ever carries an index across two instances of a membership.
    // cugd follows within a second and tells the terminals.
    Result<void> add_user(std::string_view name, std::string password_hash);
    Result<void> delete_user(std::string_view name);  // and its memberships and session
    Result<void> set_password(std::string_view name, std::string password_hash);
    Result<void> set_enabled(std::string_view name, bool enabled);  // disabled: session ends
    // Replaces a user record as is (failed-login counters, card keys); a
    // card changed or removed ends the session the old card opened.
    Result<void> put_user(const User& user);

    // A new group with a fresh key epoch. The prefix must not overlap another group's.
    Result<Group> add_group(std::string_view name, const net::Prefix& prefix);
    // A new key epoch: the current one becomes the previous (the one before
    // is forgotten), with a fresh secret and a never-used key id.
    Result<Group> rotate_epoch(std::string_view name);
    // Refuses a group with members unless `force`, which removes them too.
    Result<void> delete_group(std::string_view name, bool force);

    // Gives the user a stable address in the group: `address` if given, else the
    // next free one after the last handed out (so a freed address is not reused
    // until the prefix wraps).
    Result<Membership> add_member(std::string_view group, std::string_view user,
                                  std::optional<net::Address> address = std::nullopt);
    Result<void> delete_member(std::string_view group, std::string_view user);

    // Registers a login: replaces the user's previous session (returned, so
    // its terminal can be told) and gives the new one its receiver index.
    Result<std::optional<Session>> register_session(Session session);
    // Keepalive and the observed UDP endpoint; not audited (too frequent).
    Result<void> touch_session(std::string_view user, std::int64_t last_seen,
                               const std::optional<net::Endpoint>& endpoint);
    Result<void> acknowledge_session(std::string_view user);
    // Makes a live session follow the user's memberships: a group left loses
    // its receiver index, a group joined gets a new one. Audited when
    // something changed ("session.groups").
    struct GroupChange {
        std::vector<std::string> joined, left;
        bool empty() const { return joined.empty() && left.empty(); }
    };
    Result<GroupChange> follow_memberships(std::string_view user);
    // Clears the registration; `why` is the audit action ("session.logout",
    // "session.expired", "session.kicked", "session.revoked").
    Result<void> end_session(std::string_view user, std::string_view why,
                             std::string_view detail = {});

    // Sets the DNS zone (dns::check_zone; stored canonical), audited as
    // server.dns-zone; cugd pushes it to the live sessions.
    Result<std::string> set_dns_zone(std::string_view zone);

    // A never-reused number from a named counter (key ids, receiver indices...).
    Result<std::uint64_t> next_counter(std::string_view name);

    // Appends to the audit log (the methods above do it themselves).
    Result<void> audit_event(std::string_view action, std::string_view subject,
                             std::string_view detail);
    // Appends to the noise ring, the oldest going first beyond its limit.
    Result<void> record_noise(const std::vector<NoiseEntry>& entries);

  private:
    WriteTxn(MDB_txn* txn, const Databases& dbs, const Actor& actor)
        : ReadTxn(txn, dbs), actor_(actor) {}
    friend class Store;

    Result<void> put(Table, ByteView key, ByteView value);
    // An LMDB return code as a Result, noting a full map for Store::write.
    Result<void> status(int rc, std::string_view what);
    Result<void> del(Table, ByteView key);
    Result<void> put_meta_u64(std::string_view key, std::uint64_t value);
    // Appends to a numbered, bounded log (the audit log, the noise ring)
    // whose next and first numbers are kept in meta under these keys.
    Result<void> append_to_ring(Table table, std::string_view next_key, std::string_view first_key,
                                std::uint64_t limit, ByteView value);
    Result<void> remove_membership(Group& group, const Membership& m);
    Result<void> remove_session(const Session& session);
    // Ends the user's session, if any, audited as session.revoked.
    Result<void> revoke_session(std::string_view user, std::string_view why);

    const Actor& actor_;
    bool map_full_ = false;
};

class Store {
  public:
    // Creates a new store in `dir` (made 0700 if missing) with a fresh server
    // key and self-signed certificate. Errc::exists if a store is already there.
    static Result<Store> create(const std::filesystem::path& dir, const InitParams& params,
                                Actor actor, Options options = {});
    // Opens an existing store. Errc::no_input if there is none, Errc::config if it
    // is not a cug store or has a newer schema.
    static Result<Store> open(const std::filesystem::path& dir, Actor actor, Options options = {});

    Store(Store&&) noexcept;
    Store& operator=(Store&&) noexcept;
    ~Store();

    const std::filesystem::path& dir() const;

    // Runs fn in a read snapshot. fn returns Result<T>; so does read.
    template <typename F>
    auto read(F&& fn) -> std::invoke_result_t<F, ReadTxn&> {
        return run<ReadTxn>(std::forward<F>(fn), [this](auto&& body) { return read_txn(body); });
    }
    // Runs fn in one write transaction and commits if it succeeds. fn may be
    // run more than once (after the map has grown), so it must only touch the
    // transaction.
    template <typename F>
    auto write(F&& fn) -> std::invoke_result_t<F, WriteTxn&> {
        return run<WriteTxn>(std::forward<F>(fn), [this](auto&& body) { return write_txn(body); });
    }

    // Problems with the files themselves (modes, ownership), for `check`.
    std::vector<std::string> check_files() const;
    // Bytes the store occupies on disk.
    std::uint64_t disk_size() const;

  private:
    struct Impl;
    explicit Store(std::unique_ptr<Impl> impl);
    // The environment and its databases, opened (or created); nothing checked.
    static Result<Store> open_environment(const std::filesystem::path& dir, Actor actor,
                                          Options options, bool create);
    std::uint64_t schema();  // 0 when the store has none

    Result<void> read_txn(const std::function<Result<void>(ReadTxn&)>& body);
    Result<void> write_txn(const std::function<Result<void>(WriteTxn&)>& body);

    template <typename Txn, typename F, typename Runner>
    auto run(F&& fn, Runner&& runner) -> std::invoke_result_t<F, Txn&> {
        using R = std::invoke_result_t<F, Txn&>;
        if constexpr (std::is_same_v<R, Result<void>>) {
            return runner(std::function<Result<void>(Txn&)>(std::forward<F>(fn)));
        } else {
            std::optional<R> out;
            auto status = runner(std::function<Result<void>(Txn&)>([&](Txn& txn) -> Result<void> {
                out.emplace(fn(txn));
                if (!*out) return out->error();
                return ok();
            }));
            if (!status) return std::move(status).error();
            return std::move(*out);
        }
    }

    std::unique_ptr<Impl> impl_;
};

}  // namespace cug::store
