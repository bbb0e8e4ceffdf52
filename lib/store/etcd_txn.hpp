// Store transactions on etcd (issue 16): what the store's LMDB transactions
// give, on a cluster. A transaction reads at one revision of etcd (a
// snapshot), sees its own writes (buffered, the last write of a key wins),
// and commits as one etcd Txn that holds only if no other transaction has
// committed since it began: every commit moves the store's transaction key
// (ROOT "txn": the generation and the committing transaction's random id),
// and compares its mod_revision with the one read at the start. So commits
// are serializable, as LMDB's single writer made them: counters and indices
// are never handed out twice. A transaction that loses is run again from a
// fresh snapshot, its body too (bodies must be safe to run again).
//
// A commit whose outcome is unknown (the connection broke, the leader
// changed) is settled: the transaction key is fenced (put again as it is
// unless someone moved it) so the lost commit cannot land later, and its
// history since the transaction began says whether our id is in it.
//
// Keys are relative to ROOT (e.g. "/cug/"); the store's tables live below it.
// At most max_writes keys change in one transaction (etcd's 128 operations,
// less the transaction key).
#pragma once

#include "store/etcd.hpp"

#include <functional>
#include <map>
#include <optional>

namespace cug::store::etcd {

inline constexpr std::size_t max_writes = 127;

class Transaction {
  public:
    std::int64_t revision() const { return revision_; }
    std::uint64_t generation() const { return generation_; }  // commits so far

    Result<std::optional<Bytes>> get(ByteView key);
    // Every key that starts with `prefix`, in key order (reverse: newest
    // first), this transaction's writes included and its deletes left out;
    // at most `limit` (0: all).
    Result<std::vector<std::pair<Bytes, Bytes>>> scan(ByteView prefix, bool reverse = false,
                                                      std::size_t limit = 0);
    void put(ByteView key, ByteView value);
    void del(ByteView key);
    std::size_t writes() const { return writes_.size(); }

  private:
    friend Result<void> read(Client&, ByteView, const std::function<Result<void>(Transaction&)>&);
    friend Result<void> write(Client&, ByteView, const std::function<Result<void>(Transaction&)>&,
                              int);
    Transaction(Client& client, ByteView root) : client_(client), root_(root.begin(), root.end()) {}
    Result<void> begin();
    static Result<bool> settle(Client& client, const Transaction& t, const Bytes& key, ByteView id);
    Bytes full(ByteView key) const;

    Client& client_;
    Bytes root_;
    std::int64_t revision_ = 0, txn_key_mod_ = 0;
    std::uint64_t generation_ = 0;
    std::map<Bytes, std::optional<Bytes>> writes_;  // relative key -> value, or deleted
};

Result<void> read(Client& client, ByteView root,
                  const std::function<Result<void>(Transaction&)>& body);
// Runs body and commits; runs it again on a conflict, up to `attempts` times
// (then Errc::temporary). An error from body commits nothing.
Result<void> write(Client& client, ByteView root,
                   const std::function<Result<void>(Transaction&)>& body, int attempts = 8);

}  // namespace cug::store::etcd
