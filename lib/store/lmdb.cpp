#include "store/lmdb.hpp"

#include <cerrno>
#include <cstring>

namespace cug::store::lmdb {

Error error_from(int rc, std::string_view what) {
    switch (rc) {
        case EACCES:
        case EPERM:
            return make_error(Errc::permission, "{}: permission denied", what);
        case ENOENT:
            return make_error(Errc::no_input, "{}: no such file or directory", what);
        case ENOSPC:
        case EDQUOT:
            return make_error(Errc::io, "{}: no space left on the device", what);
        case EROFS:
            return make_error(Errc::io, "{}: read-only file system", what);
        case EIO:
            return make_error(Errc::io, "{}: input/output error", what);
        case MDB_INVALID:
        case MDB_VERSION_MISMATCH:
            return make_error(Errc::config, "{}: not an LMDB store of a version this program reads",
                              what);
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_PANIC:
            return make_error(Errc::config, "{}: the store is corrupt ({})", what,
                              mdb_strerror(rc));
        case MDB_READERS_FULL:
            return make_error(Errc::temporary, "{}: too many readers at once", what);
        case MDB_MAP_FULL:
            return make_error(Errc::io, "{}: the store's map is full", what);
        default:
            return make_error(Errc::io, "{}: {}", what, mdb_strerror(rc));
    }
}

Cursor::Cursor(MDB_txn* txn, MDB_dbi dbi) {
    rc_ = mdb_cursor_open(txn, dbi, &cursor_);
    if (rc_ != MDB_SUCCESS) cursor_ = nullptr;
}

Cursor::~Cursor() {
    if (cursor_) mdb_cursor_close(cursor_);
}

std::optional<Entry> Cursor::move(MDB_cursor_op op) {
    if (!cursor_) return std::nullopt;
    MDB_val k, v;
    rc_ = mdb_cursor_get(cursor_, &k, &v, op);
    if (rc_ != MDB_SUCCESS) return std::nullopt;
    return Entry{view(k), view(v)};
}

std::optional<Entry> Cursor::seek(ByteView key) {
    if (!cursor_) return std::nullopt;
    MDB_val k = val(key), v;
    rc_ = mdb_cursor_get(cursor_, &k, &v, MDB_SET_RANGE);
    if (rc_ != MDB_SUCCESS) return std::nullopt;
    return Entry{view(k), view(v)};
}

}  // namespace cug::store::lmdb
