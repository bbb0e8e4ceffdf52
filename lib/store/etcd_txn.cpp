#include "store/etcd_txn.hpp"

#include "crypto/random.hpp"

#include <algorithm>
#include <random>
#include <thread>

namespace cug::store::etcd {

namespace {

constexpr std::string_view txn_key = "txn";
constexpr std::size_t id_size = 16;

// The transaction key's value: the generation (8 bytes, big-endian) and the
// id of the transaction that committed it.
Bytes txn_value(std::uint64_t generation, ByteView id) {
    Bytes v(8);
    for (int i = 0; i < 8; ++i)
        v[i] = static_cast<std::uint8_t>(generation >> (56 - 8 * i));
    v.insert(v.end(), id.begin(), id.end());
    return v;
}

Result<std::pair<std::uint64_t, Bytes>> parse_txn_value(ByteView v) {
    if (v.size() != 8 + id_size)
        return make_error(Errc::config, "the store's transaction key is not cug's");
    std::uint64_t g = 0;
    for (int i = 0; i < 8; ++i)
        g = g << 8 | v[i];
    return std::pair{g, Bytes(v.begin() + 8, v.end())};
}

}  // namespace

// Whether the commit with this id happened, when its answer was lost. First
// the transaction key is made to differ from the revision the commit
// compared with (a fence: the key put again as it is, if nobody moved it
// meanwhile), so that the commit can no longer happen late; then the key's
// history since the transaction began says whether it is among them.
Result<bool> Transaction::settle(Client& client, const Transaction& t, const Bytes& key,
                                 ByteView id) {
    KeyValue current;
    for (int tries = 0;; ++tries) {
        if (tries == 8) return make_error(Errc::temporary, "etcd does not settle");
        const Range r = CUG_TRY(client.range(key));
        if (!r.kvs.empty() && r.kvs[0].mod_revision != t.txn_key_mod_) {
            current = r.kvs[0];
            break;
        }
        const Bytes same = r.kvs.empty() ? txn_value(0, Bytes(id_size)) : r.kvs[0].value;
        auto fence = client.txn(
            {{key, Compare::Target::mod_revision, Compare::Result::equal, t.txn_key_mod_, {}}},
            {Op::put(key, same)});
        if (fence && fence->succeeded) return false;  // untouched since: ours never happened
    }
    while (current.mod_revision > t.txn_key_mod_) {
        if (CUG_TRY(parse_txn_value(current.value)).second == Bytes(id.begin(), id.end()))
            return true;
        const Range before = CUG_TRY(client.range(key, {}, current.mod_revision - 1));
        if (before.kvs.empty()) break;
        current = before.kvs[0];
    }
    return false;
}

Bytes Transaction::full(ByteView key) const {
    Bytes k = root_;
    k.insert(k.end(), key.begin(), key.end());
    return k;
}

Result<void> Transaction::begin() {
    writes_.clear();
    const Range r = CUG_TRY(client_.range(full(as_bytes(txn_key))));
    revision_ = r.revision;
    txn_key_mod_ = 0;
    generation_ = 0;
    if (!r.kvs.empty()) {
        txn_key_mod_ = r.kvs[0].mod_revision;
        generation_ = CUG_TRY(parse_txn_value(r.kvs[0].value)).first;
    }
    return ok();
}

Result<std::optional<Bytes>> Transaction::get(ByteView key) {
    if (auto it = writes_.find(Bytes(key.begin(), key.end())); it != writes_.end())
        return it->second;
    const Range r = CUG_TRY(client_.range(full(key), {}, revision_));
    if (r.kvs.empty()) return std::optional<Bytes>();
    return std::optional<Bytes>(std::move(r.kvs[0].value));
}

Result<std::vector<std::pair<Bytes, Bytes>>> Transaction::scan(ByteView prefix, bool reverse,
                                                               std::size_t limit) {
    const Bytes from = full(prefix);
    Range r = CUG_TRY(client_.range(from, prefix_end(from), revision_));
    std::map<Bytes, Bytes> merged;
    for (auto& kv : r.kvs)
        merged.emplace(
            Bytes(kv.key.begin() + static_cast<std::ptrdiff_t>(root_.size()), kv.key.end()),
            std::move(kv.value));
    const Bytes p(prefix.begin(), prefix.end());
    for (auto it = writes_.lower_bound(p); it != writes_.end(); ++it) {
        if (it->first.size() < p.size() || !std::equal(p.begin(), p.end(), it->first.begin()))
            break;
        if (it->second)
            merged[it->first] = *it->second;
        else
            merged.erase(it->first);
    }
    std::vector<std::pair<Bytes, Bytes>> out;
    auto take = [&](auto begin, auto end) {
        for (auto it = begin; it != end && (limit == 0 || out.size() < limit); ++it)
            out.emplace_back(it->first, it->second);
    };
    if (reverse)
        take(merged.rbegin(), merged.rend());
    else
        take(merged.begin(), merged.end());
    return out;
}

void Transaction::put(ByteView key, ByteView value) {
    writes_[Bytes(key.begin(), key.end())] = Bytes(value.begin(), value.end());
}

void Transaction::del(ByteView key) {
    writes_[Bytes(key.begin(), key.end())] = std::nullopt;
}

Result<void> read(Client& client, ByteView root,
                  const std::function<Result<void>(Transaction&)>& body) {
    Transaction t(client, root);
    CUG_CHECK(t.begin());
    return body(t);
}

Result<void> write(Client& client, ByteView root,
                   const std::function<Result<void>(Transaction&)>& body, int attempts) {
    std::minstd_rand jitter(std::random_device{}());
    Transaction t(client, root);
    for (int attempt = 0; attempt < attempts; ++attempt) {
        if (attempt > 0)  // someone else committed first: again, a little later
            std::this_thread::sleep_for(
                std::chrono::milliseconds(jitter() % (5u << std::min(attempt, 8))));
        CUG_CHECK(t.begin());
        CUG_CHECK(body(t));
        if (t.writes_.size() > max_writes)
            return make_error(Errc::invalid,
                              "a change of {} keys is more than one etcd transaction takes ({})",
                              t.writes_.size(), max_writes);
        Bytes id(id_size);
        crypto::random_bytes(id);
        const Bytes key = t.full(as_bytes(txn_key));
        std::vector<Op> ops;
        for (const auto& [k, v] : t.writes_)
            ops.push_back(v ? Op::put(t.full(k), *v) : Op::del(t.full(k)));
        ops.push_back(Op::put(key, txn_value(t.generation_ + 1, id)));
        const std::vector<Compare> unchanged{
            {key, Compare::Target::mod_revision, Compare::Result::equal, t.txn_key_mod_, {}}};
        auto done = client.txn(unchanged, ops);
        if (!done && done.error().code == Errc::unavailable) {
            // Unknown: it may have been applied, or may still be.
            auto ours = Transaction::settle(client, t, key, id);
            if (!ours)
                return make_error(Errc::temporary,
                                  "{} (whether the change was made is not known; look before "
                                  "trying again)",
                                  done.error().message);
            if (*ours) return ok();
            continue;  // it did not happen, and now it cannot
        }
        if (!done) return std::move(done).error();
        if (done->succeeded) return ok();
    }
    return make_error(Errc::temporary, "the store kept changing under this change ({} tries)",
                      attempts);
}

}  // namespace cug::store::etcd
