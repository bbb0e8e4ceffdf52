// The audit log: append-only, numbered, bounded. When it holds audit_limit
// entries the oldest goes with each new one, so a full log never refuses a
// change. The noise ring (what strangers did, counted per source and minute)
// works alike in its own database, so it never pushes out an audit entry.
#include "core/time.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"

#include <algorithm>

namespace cug::store {

// Appends under the ring's next number; the oldest entries go beyond `limit`.
Result<void> WriteTxn::append_to_ring(Table table, std::string_view next_key,
                                      std::string_view first_key, std::uint64_t limit,
                                      ByteView value) {
    const std::uint64_t seq = std::max<std::uint64_t>(meta_u64(next_key), 1);
    CUG_CHECK(put(table, seq_key(seq), value));
    CUG_CHECK(put_meta_u64(next_key, seq + 1));
    std::uint64_t first = meta_u64(first_key);
    if (first == 0) first = seq;
    limit = std::max<std::uint64_t>(limit, 1);
    if (seq + 1 - first > limit) {
        lmdb::Cursor cursor(txn_, dbs_[table]);
        for (auto e = cursor.first(); e && seq + 1 - first > limit; e = cursor.first()) {
            auto old = parse_seq_key(e->key);
            if (!old)
                return make_error(Errc::config, "the store is corrupt: bad {} key",
                                  table_name(table));
            CUG_CHECK(status(cursor.del(), "pruning a log"));
            first = *old + 1;
        }
    }
    return put_meta_u64(first_key, first);
}

Result<void> WriteTxn::audit_event(std::string_view action, std::string_view subject,
                                   std::string_view detail) {
    AuditEntry entry;
    entry.time_us = unix_now_micros();
    entry.uid = actor_.uid;
    entry.actor = actor_.name;
    entry.program = actor_.program;
    entry.action = std::string(action);
    entry.subject = std::string(subject);
    entry.detail = std::string(detail);
    return append_to_ring(Table::audit, meta_audit_next, meta_audit_first, audit_limit(),
                          encode_audit(entry));
}

Result<void> WriteTxn::record_noise(const std::vector<NoiseEntry>& entries) {
    for (const auto& e : entries)
        CUG_CHECK(append_to_ring(Table::noise, meta_noise_next, meta_noise_first, noise_limit(),
                                 encode_noise(e)));
    return ok();
}

Result<std::vector<AuditEntry>> ReadTxn::audit(std::int64_t since, std::size_t limit) const {
    std::vector<AuditEntry> out;
    const std::int64_t since_us = since > INT64_MAX / 1'000'000 ? INT64_MAX : since * 1'000'000;
    lmdb::Cursor cursor(txn_, dbs_[Table::audit]);
    // Newest first until the time or the count is reached, then oldest first.
    for (auto e = cursor.last(); e && out.size() < limit; e = cursor.prev()) {
        auto seq = parse_seq_key(e->key);
        if (!seq) return make_error(Errc::config, "the store is corrupt: bad audit key");
        auto entry = CUG_TRY(decode_audit(*seq, e->value));
        if (entry.time_us < since_us) break;
        out.push_back(std::move(entry));
    }
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "reading the audit log");
    std::reverse(out.begin(), out.end());
    return out;
}

Result<std::vector<NoiseEntry>> ReadTxn::noise(std::int64_t since, std::size_t limit) const {
    std::vector<NoiseEntry> out;
    lmdb::Cursor cursor(txn_, dbs_[Table::noise]);
    for (auto e = cursor.last(); e && out.size() < limit; e = cursor.prev()) {
        auto seq = parse_seq_key(e->key);
        if (!seq) return make_error(Errc::config, "the store is corrupt: bad noise key");
        auto entry = CUG_TRY(decode_noise(*seq, e->value));
        if (entry.minute < since) break;
        out.push_back(std::move(entry));
    }
    if (!cursor.ok()) return lmdb::error_from(cursor.status(), "reading the noise ring");
    std::reverse(out.begin(), out.end());
    return out;
}

}  // namespace cug::store
