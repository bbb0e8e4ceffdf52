// Opening and creating stores, running transactions, growing the map, and the
// writer lock. The per-table operations live in users.cpp, groups.cpp,
// audit.cpp and check.cpp.
#include "store/store.hpp"

#include "core/time.hpp"
#include "crypto/random.hpp"
#include "dns/zone.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"
#include "store/names.hpp"
#include "wire/binary.hpp"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <thread>

namespace cug::store {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t max_map_size = std::size_t{1} << 40;
constexpr const char* data_file = "data.mdb";
constexpr const char* writer_lock_file = "writer.lock";

Error os_error(int err, std::string_view what) {
    return lmdb::error_from(err, what);
}

}  // namespace

const char* table_name(Table t) {
    switch (t) {
        case Table::meta:
            return "meta";
        case Table::counters:
            return "counters";
        case Table::users:
            return "users";
        case Table::groups:
            return "groups";
        case Table::members:
            return "members";
        case Table::addresses:
            return "addresses";
        case Table::sessions:
            return "sessions";
        case Table::session_ids:
            return "session_ids";
        case Table::audit:
            return "audit";
        case Table::noise:
            return "noise";
    }
    return "?";
}

Actor Actor::current(std::string program) {
    Actor a;
    a.uid = static_cast<std::uint32_t>(getuid());
    a.program = std::move(program);
    char buf[4096];
    passwd pw{};
    passwd* found = nullptr;
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &found) == 0 && found)
        a.name = found->pw_name;
    else
        a.name = fmt::format("uid {}", a.uid);
    // sudo sets SUDO_USER only for the command it starts; recorded as a hint,
    // the uid above is the authority.
    if (a.uid == 0) {
        if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo) {
            std::string who(sudo);
            if (who.size() <= 64 && check_user_name(who))
                a.name += fmt::format(" via sudo by {}", who);
        }
    }
    return a;
}

struct Store::Impl {
    fs::path dir;
    Actor actor;
    Options options;
    MDB_env* env = nullptr;
    Databases dbs;
    int lock_fd = -1;
    std::mutex writer_mutex;      // writers of this process, one at a time
    std::shared_mutex map_mutex;  // resizing the map excludes every transaction

    ~Impl() {
        if (env) mdb_env_close(env);
        if (lock_fd >= 0) close(lock_fd);
    }

    Result<void> open_env();
    Result<void> open_databases(bool create);
    // A store of schema 1 lacks the noise database: made, and the schema moved on.
    bool lacks_noise = false;
    Result<void> upgrade_from_1();
    Result<void> lock_writers();
    void unlock_writers();
    Result<void> grow_map();
    Result<void> adopt_map_size();
};

Result<void> Store::Impl::open_env() {
    int rc = mdb_env_create(&env);
    if (rc) return lmdb::error_from(rc, "creating the LMDB environment");
    mdb_env_set_maxdbs(env, 16);
    mdb_env_set_maxreaders(env, 512);
    mdb_env_set_mapsize(env, options.initial_map_size);
    // MDB_NOTLS: read transactions are not tied to threads (cugd's workers);
    // no MDB_NOSYNC/MDB_NOMETASYNC: every commit is fully synced.
    rc = mdb_env_open(env, dir.c_str(), MDB_NOTLS, 0600);
    if (rc) return lmdb::error_from(rc, fmt::format("opening the store at {}", dir.string()));
    int dead = 0;
    mdb_reader_check(env, &dead);  // readers left by processes that were killed
    return ok();
}

Result<void> Store::Impl::open_databases(bool create) {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, create ? 0 : MDB_RDONLY, &txn);
    if (rc) return lmdb::error_from(rc, "opening the store's databases");
    for (Table t : all_tables) {
        rc = mdb_dbi_open(txn, table_name(t), create ? MDB_CREATE : 0,
                          &dbs.dbi[static_cast<int>(t)]);
        if (rc == MDB_NOTFOUND && t == Table::noise) {
            lacks_noise = true;
            continue;
        }
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            return make_error(Errc::config, "{} is not a cug store (no '{}' database)",
                              dir.string(), table_name(t));
        }
        if (rc) {
            mdb_txn_abort(txn);
            return lmdb::error_from(rc, "opening the store's databases");
        }
    }
    rc = mdb_txn_commit(txn);  // keeps the handles for the life of the environment
    if (rc) return lmdb::error_from(rc, "opening the store's databases");
    return ok();
}

Result<void> Store::Impl::upgrade_from_1() {
    CUG_CHECK(lock_writers());
    struct Unlock {
        Impl* impl;
        ~Unlock() { impl->unlock_writers(); }
    } unlock{this};
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc) return lmdb::error_from(rc, "upgrading the store");
    rc = mdb_dbi_open(txn, table_name(Table::noise), MDB_CREATE,
                      &dbs.dbi[static_cast<int>(Table::noise)]);
    wire::Writer w;
    w.u64(schema_version);
    MDB_val key = lmdb::val(as_bytes(meta_schema)), value = lmdb::val(w.data());
    if (rc == 0) rc = mdb_put(txn, dbs[Table::meta], &key, &value, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return lmdb::error_from(rc, "upgrading the store");
    }
    rc = mdb_txn_commit(txn);
    if (rc) return lmdb::error_from(rc, "upgrading the store");
    lacks_noise = false;
    return ok();
}

Result<void> Store::Impl::lock_writers() {
    if (lock_fd < 0) {
        lock_fd = ::open((dir / writer_lock_file).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lock_fd < 0) return os_error(errno, "opening the store's writer lock");
    }
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + options.lock_timeout;
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
        struct flock fl {};
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(lock_fd, F_SETLK, &fl) == 0) return ok();
        if (errno != EACCES && errno != EAGAIN) return os_error(errno, "locking the store");
        if (clock::now() >= deadline) {
            struct flock holder {};
            holder.l_type = F_WRLCK;
            holder.l_whence = SEEK_SET;
            std::string who = "another process";
            if (fcntl(lock_fd, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK)
                who = fmt::format("process {}", holder.l_pid);
            return make_error(Errc::temporary,
                              "the store at {} is locked: {} has been writing for over {} ms",
                              dir.string(), who, options.lock_timeout.count());
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
    }
}

void Store::Impl::unlock_writers() {
    struct flock fl {};
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    fcntl(lock_fd, F_SETLK, &fl);
}

Result<void> Store::Impl::grow_map() {
    std::unique_lock lock(map_mutex);
    MDB_envinfo info{};
    mdb_env_info(env, &info);
    std::size_t size = std::max(info.me_mapsize * 2, info.me_mapsize + (std::size_t{16} << 20));
    if (info.me_mapsize >= max_map_size)
        return make_error(Errc::io, "the store has reached its largest map size ({} GiB)",
                          max_map_size >> 30);
    int rc = mdb_env_set_mapsize(env, std::min(size, max_map_size));
    if (rc) return lmdb::error_from(rc, "growing the store's map");
    return ok();
}

Result<void> Store::Impl::adopt_map_size() {
    std::unique_lock lock(map_mutex);
    int rc = mdb_env_set_mapsize(env, 0);
    if (rc) return lmdb::error_from(rc, "adopting the store's new map size");
    return ok();
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

const fs::path& Store::dir() const {
    return impl_->dir;
}

Result<void> Store::read_txn(const std::function<Result<void>(ReadTxn&)>& body) {
    for (int attempt = 0; attempt < 4; ++attempt) {
        std::shared_lock map(impl_->map_mutex);
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(impl_->env, nullptr, MDB_RDONLY, &txn);
        if (rc == MDB_MAP_RESIZED) {
            map.unlock();
            CUG_CHECK(impl_->adopt_map_size());
            continue;
        }
        if (rc) return lmdb::error_from(rc, "reading the store");
        ReadTxn snapshot(txn, impl_->dbs);
        Result<void> result = body(snapshot);
        mdb_txn_abort(txn);
        return result;
    }
    return make_error(Errc::temporary, "the store's map keeps changing size; try again");
}

Result<void> Store::write_txn(const std::function<Result<void>(WriteTxn&)>& body) {
    std::lock_guard writers(impl_->writer_mutex);
    CUG_CHECK(impl_->lock_writers());
    struct Unlock {
        Impl* impl;
        ~Unlock() { impl->unlock_writers(); }
    } unlock{impl_.get()};

    for (int attempt = 0; attempt < 16; ++attempt) {
        std::shared_lock map(impl_->map_mutex);
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(impl_->env, nullptr, 0, &txn);
        if (rc == MDB_MAP_RESIZED) {
            map.unlock();
            CUG_CHECK(impl_->adopt_map_size());
            continue;
        }
        if (rc) return lmdb::error_from(rc, "starting a write transaction");
        WriteTxn change(txn, impl_->dbs, impl_->actor);
        Result<void> result = body(change);
        if (result) result = change.put_meta_u64(meta_generation, change.generation() + 1);
        if (!result) {
            mdb_txn_abort(txn);
            if (!change.map_full_) return result;
        } else {
            rc = mdb_txn_commit(txn);
            if (rc == MDB_SUCCESS) return ok();
            if (rc != MDB_MAP_FULL) return lmdb::error_from(rc, "committing to the store");
        }
        map.unlock();
        CUG_CHECK(impl_->grow_map());
    }
    return make_error(Errc::io, "the store's map stayed full after growing it");
}

namespace {

bool store_exists(const fs::path& dir) {
    std::error_code ec;
    return fs::exists(dir / data_file, ec);
}

// Makes `dir` (0700) and any missing parents (0755).
Result<void> make_store_dir(const fs::path& dir) {
    std::error_code ec;
    if (fs::is_directory(dir, ec)) return ok();
    if (fs::exists(dir, ec))
        return make_error(Errc::exists, "{} exists and is not a directory", dir.string());
    fs::path parent = dir.parent_path();
    if (!parent.empty() && !fs::exists(parent, ec)) {
        fs::create_directories(parent, ec);
        if (ec) return os_error(ec.value(), fmt::format("creating {}", parent.string()));
    }
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
        return os_error(errno, fmt::format("creating {}", dir.string()));
    return ok();
}

void sync_dir(const fs::path& dir) {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

}  // namespace

Result<Store> Store::open_environment(const fs::path& dir, Actor actor, Options options,
                                      bool create) {
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    impl->actor = std::move(actor);
    impl->options = options;
    CUG_CHECK(impl->open_env());
    CUG_CHECK(impl->open_databases(create));
    return Store(std::move(impl));
}

std::uint64_t Store::schema() {
    std::uint64_t schema = 0;
    (void)read([&](ReadTxn& txn) -> Result<void> {
        schema = txn.meta_u64(meta_schema);
        return ok();
    });
    return schema;
}

Result<Store> Store::open(const fs::path& dir, Actor actor, Options options) {
    std::error_code ec;
    if (!fs::exists(dir, ec) || !store_exists(dir)) {
        if (ec.value() == EACCES)
            return make_error(Errc::permission, "cannot read the store at {}: permission denied",
                              dir.string());
        return make_error(Errc::no_input, "no store at {} (create one with 'cug-admin init')",
                          dir.string());
    }
    auto store = CUG_TRY(open_environment(dir, std::move(actor), options, false));
    const std::uint64_t schema = store.schema();
    if (schema == 0)
        return make_error(Errc::config, "{} is not a cug store (no schema version)", dir.string());
    if (store.impl_->lacks_noise) {
        if (schema != 1)
            return make_error(Errc::config, "{} is not a cug store (no 'noise' database)",
                              dir.string());
        if (auto upgraded = store.impl_->upgrade_from_1(); !upgraded)
            return make_error(upgraded.error().code,
                              "the store at {} is of schema 1 and could not be upgraded to {}: {}",
                              dir.string(), schema_version, upgraded.error().message);
    }
    if (schema > schema_version)
        return make_error(Errc::config,
                          "the store at {} has schema version {}, newer than this program "
                          "understands ({}); use a newer cug",
                          dir.string(), schema, schema_version);
    return store;
}

Result<Store> Store::create(const fs::path& dir, const InitParams& params, Actor actor,
                            Options options) {
    if (store_exists(dir)) {
        // Only an init that died before its one transaction committed may be redone.
        auto existing = open_environment(dir, actor, options, false);
        if (existing ? existing->schema() != 0 : existing.error().code != Errc::config)
            return existing ? make_error(Errc::exists, "a store already exists at {}", dir.string())
                            : std::move(existing).error();
    }
    // The expensive parts before any lock is taken.
    auto key = CUG_TRY(crypto::PrivateKey::generate());
    const std::int64_t now = unix_now();
    crypto::CertificateRequest request{params.server_name, now - 300,
                                       now + params.certificate_days * 86400,
                                       crypto::CertificateRequest::Role::server_ca};
    auto certificate = CUG_TRY(crypto::make_self_signed(key, request));
    auto key_der = key.to_der();

    CUG_CHECK(make_store_dir(dir));
    auto store = CUG_TRY(open_environment(dir, std::move(actor), options, true));
    CUG_CHECK(store.write([&](WriteTxn& txn) -> Result<void> {
        if (txn.meta_u64(meta_schema) != 0)
            return make_error(Errc::exists, "a store already exists at {}", dir.string());
        CUG_CHECK(txn.put_meta_u64(meta_schema, schema_version));
        CUG_CHECK(txn.put_meta_u64(meta_created, static_cast<std::uint64_t>(now)));
        CUG_CHECK(txn.put_meta_u64(meta_audit_limit, params.audit_limit));
        CUG_CHECK(txn.put_meta_u64(meta_noise_limit, params.noise_limit));
        CUG_CHECK(txn.put(Table::meta, as_bytes(meta_server_name), as_bytes(params.server_name)));
        CUG_CHECK(txn.put(Table::meta, as_bytes(meta_server_key), key_der.view()));
        CUG_CHECK(txn.put(Table::meta, as_bytes(meta_server_cert), certificate.to_der()));
        CUG_CHECK(txn.put(Table::meta, as_bytes(meta_password_params),
                          as_bytes(params.password_params.to_string())));
        return txn.audit_event("store.init", params.server_name,
                               fmt::format("server key {}", key.public_key().fingerprint_text()));
    }));
    sync_dir(dir);
    if (dir.has_parent_path()) sync_dir(dir.parent_path());
    return store;
}

std::vector<std::string> Store::check_files() const {
    std::vector<std::string> problems;
    struct stat st {};
    if (::stat(impl_->dir.c_str(), &st) == 0 && (st.st_mode & 0022))
        problems.push_back(fmt::format("{} is writable by others (mode {:04o}): chmod 700 it",
                                       impl_->dir.string(), st.st_mode & 07777));
    for (const char* name : {data_file, "lock.mdb", writer_lock_file}) {
        fs::path file = impl_->dir / name;
        if (::stat(file.c_str(), &st) != 0) continue;
        if (st.st_mode & 0077)
            problems.push_back(fmt::format(
                "{} is open to other users (mode {:04o}); the store holds secrets: chmod 600 it",
                file.string(), st.st_mode & 07777));
    }
    return problems;
}

std::uint64_t Store::disk_size() const {
    struct stat st {};
    if (::stat((impl_->dir / data_file).c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_size);
}

// --- ReadTxn basics ---------------------------------------------------------

Result<std::optional<Bytes>> ReadTxn::get(Table table, ByteView key) const {
    MDB_val k = lmdb::val(key), v;
    int rc = mdb_get(txn_, dbs_[table], &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<Bytes>();
    if (rc) return lmdb::error_from(rc, "reading the store");
    ByteView value = lmdb::view(v);
    return std::optional<Bytes>(Bytes(value.begin(), value.end()));
}

std::uint64_t ReadTxn::meta_u64(std::string_view key) const {
    MDB_val k = lmdb::val(as_bytes(key)), v;
    if (mdb_get(txn_, dbs_[Table::meta], &k, &v) != MDB_SUCCESS) return 0;
    wire::Reader r(lmdb::view(v));
    std::uint64_t value = r.u64();
    return r.done() ? value : 0;
}

std::uint64_t ReadTxn::generation() const {
    return meta_u64(meta_generation);
}
std::uint64_t ReadTxn::audit_limit() const {
    return meta_u64(meta_audit_limit);
}

std::uint64_t ReadTxn::noise_limit() const {
    const std::uint64_t limit = meta_u64(meta_noise_limit);
    return limit ? limit : default_noise_limit;
}

std::string ReadTxn::dns_zone() const {
    auto value = get(Table::meta, as_bytes(meta_dns_zone));
    if (!value || !*value) return std::string(dns::default_zone);
    const std::string zone(as_chars(**value));
    auto checked = dns::check_zone(zone);
    return checked && *checked == zone ? zone : std::string(dns::default_zone);  // check() says
}

Result<std::string> WriteTxn::set_dns_zone(std::string_view text) {
    const std::string zone = CUG_TRY(dns::check_zone(text));
    const std::string was = dns_zone();
    CUG_CHECK(put(Table::meta, as_bytes(meta_dns_zone), as_bytes(zone)));
    CUG_CHECK(audit_event("server.dns-zone", zone, fmt::format("was {}", was)));
    return zone;
}

std::string ReadTxn::server_name() const {
    auto value = get(Table::meta, as_bytes(meta_server_name));
    if (!value || !*value) return {};
    return std::string(as_chars(**value));
}

Result<crypto::PrivateKey> ReadTxn::server_key() const {
    MDB_val k = lmdb::val(as_bytes(meta_server_key)), v;
    int rc = mdb_get(txn_, dbs_[Table::meta], &k, &v);
    if (rc == MDB_NOTFOUND) return make_error(Errc::config, "the store has no server key");
    if (rc) return lmdb::error_from(rc, "reading the server key");
    // Straight from the map into the secret heap, no ordinary copy in between.
    auto key = crypto::PrivateKey::from_der(lmdb::view(v));
    if (!key) return make_error(Errc::config, "the store's server key is corrupt");
    return key;
}

Result<crypto::Certificate> ReadTxn::server_certificate() const {
    auto der = CUG_TRY(get(Table::meta, as_bytes(meta_server_cert)));
    if (!der) return make_error(Errc::config, "the store has no server certificate");
    auto certificate = crypto::Certificate::from_der(*der);
    if (!certificate) return make_error(Errc::config, "the store's server certificate is corrupt");
    return certificate;
}

Result<crypto::Argon2Params> ReadTxn::password_params() const {
    auto text = CUG_TRY(get(Table::meta, as_bytes(meta_password_params)));
    if (!text) return make_error(Errc::config, "the store has no password parameters");
    auto params = crypto::Argon2Params::parse(as_chars(*text));
    if (!params) return make_error(Errc::config, "the store's password parameters are corrupt");
    return params;
}

std::uint64_t ReadTxn::entries(Table table) const {
    MDB_stat st{};
    if (mdb_stat(txn_, dbs_[table], &st) != MDB_SUCCESS) return 0;
    return st.ms_entries;
}

// --- WriteTxn basics --------------------------------------------------------

Result<void> WriteTxn::put(Table table, ByteView key, ByteView value) {
    MDB_val k = lmdb::val(key), v = lmdb::val(value);
    return status(mdb_put(txn_, dbs_[table], &k, &v, 0), "writing to the store");
}

Result<void> WriteTxn::status(int rc, std::string_view what) {
    if (rc == MDB_SUCCESS) return ok();
    // Puts and deletes (which can split pages too) may fill the map;
    // Store::write then grows it and runs the change again.
    if (rc == MDB_MAP_FULL) map_full_ = true;
    return lmdb::error_from(rc, what);
}

Result<void> WriteTxn::del(Table table, ByteView key) {
    MDB_val k = lmdb::val(key);
    return status(mdb_del(txn_, dbs_[table], &k, nullptr), "deleting from the store");
}

Result<void> WriteTxn::put_meta_u64(std::string_view key, std::uint64_t value) {
    wire::Writer w;
    w.u64(value);
    return put(Table::meta, as_bytes(key), w.data());
}

Result<std::uint64_t> WriteTxn::next_counter(std::string_view name) {
    auto stored = CUG_TRY(get(Table::counters, as_bytes(name)));
    std::uint64_t next = 1;
    if (stored) {
        wire::Reader r(*stored);
        next = r.u64();
        if (!r.done() || next == 0)
            return make_error(Errc::config, "the store is corrupt: bad counter '{}'", name);
    }
    if (next == UINT64_MAX) return make_error(Errc::unavailable, "counter '{}' is exhausted", name);
    wire::Writer w;
    w.u64(next + 1);
    CUG_CHECK(put(Table::counters, as_bytes(name), w.data()));
    return next;
}

}  // namespace cug::store
