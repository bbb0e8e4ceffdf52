// The audit log: append-only, numbered, bounded. When it holds audit_limit
// entries the oldest goes with each new one, so a full log never refuses a
// change.
#include "core/time.hpp"
#include "store/internal.hpp"
#include "store/lmdb.hpp"

#include <algorithm>

namespace cug::store {

Result<void> WriteTxn::audit_event(std::string_view action, std::string_view subject,
                                   std::string_view detail) {
    AuditEntry entry;
    entry.seq = std::max<std::uint64_t>(meta_u64(meta_audit_next), 1);
    entry.time_us = unix_now_micros();
    entry.uid = actor_.uid;
    entry.actor = actor_.name;
    entry.program = actor_.program;
    entry.action = std::string(action);
    entry.subject = std::string(subject);
    entry.detail = std::string(detail);
    CUG_CHECK(put(Table::audit, seq_key(entry.seq), encode_audit(entry)));
    CUG_CHECK(put_meta_u64(meta_audit_next, entry.seq + 1));

    std::uint64_t first = meta_u64(meta_audit_first);
    if (first == 0) first = entry.seq;
    const std::uint64_t limit = std::max<std::uint64_t>(audit_limit(), 1);
    if (entry.seq + 1 - first > limit) {
        lmdb::Cursor cursor(txn_, dbs_[Table::audit]);
        for (auto e = cursor.first(); e && entry.seq + 1 - first > limit; e = cursor.first()) {
            auto seq = parse_seq_key(e->key);
            if (!seq) return make_error(Errc::config, "the store is corrupt: bad audit key");
            CUG_CHECK(status(cursor.del(), "pruning the audit log"));
            first = *seq + 1;
        }
    }
    return put_meta_u64(meta_audit_first, first);
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

}  // namespace cug::store
