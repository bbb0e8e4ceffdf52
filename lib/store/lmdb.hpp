// A thin RAII layer over LMDB for the store module only: environments,
// transactions, cursors, and one place that turns LMDB codes into Errors.
#pragma once

#include "core/bytes.hpp"
#include "core/result.hpp"

#include <lmdb.h>

#include <cerrno>
#include <optional>
#include <string_view>
#include <utility>

namespace cug::store::lmdb {

// An Error for an LMDB or errno code, `what` saying what was being done.
Error error_from(int rc, std::string_view what);

inline MDB_val val(ByteView b) {
    return MDB_val{b.size(), const_cast<std::uint8_t*>(b.data())};
}
inline ByteView view(const MDB_val& v) {
    return ByteView(static_cast<const std::uint8_t*>(v.mv_data), v.mv_size);
}

struct Entry {
    ByteView key;
    ByteView value;
};

// A cursor over one database; positions return the entry or nullopt at the end.
class Cursor {
  public:
    Cursor(MDB_txn* txn, MDB_dbi dbi);
    ~Cursor();
    Cursor(const Cursor&) = delete;
    Cursor& operator=(const Cursor&) = delete;

    // False when the cursor could not be opened or a move failed for a reason
    // other than reaching the end (a corrupt page, say).
    bool ok() const { return cursor_ != nullptr && (rc_ == MDB_SUCCESS || rc_ == MDB_NOTFOUND); }
    int status() const { return cursor_ ? rc_ : EINVAL; }
    std::optional<Entry> first() { return move(MDB_FIRST); }
    std::optional<Entry> last() { return move(MDB_LAST); }
    std::optional<Entry> next() { return move(MDB_NEXT); }
    std::optional<Entry> prev() { return move(MDB_PREV); }
    // The first entry whose key is >= key.
    std::optional<Entry> seek(ByteView key);
    // Deletes the entry under the cursor.
    int del() { return mdb_cursor_del(cursor_, 0); }

  private:
    std::optional<Entry> move(MDB_cursor_op op);
    MDB_cursor* cursor_ = nullptr;
    int rc_ = MDB_SUCCESS;
};

}  // namespace cug::store::lmdb
