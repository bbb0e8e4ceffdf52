// PC/SC through libpcsclite: readers, connections, APDU exchange with GET
// RESPONSE and wrong-length retries, command chaining, transactions, and
// watching a reader for the card to come and go. Every PC/SC failure becomes a
// one-line Error a person can act on.
#pragma once

#include "card/transport.hpp"
#include "core/result.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cug::card {

// An Error for a PC/SC return code; `reader` names the reader when known.
Error pcsc_error(long rc, std::string_view what, std::string_view reader = {});

class Connection;

enum class CardPresence { present, absent };

class Context {
  public:
    // Errc::unavailable when pcscd is not running.
    static Result<Context> establish();
    ~Context();
    Context(Context&&) noexcept;
    Context& operator=(Context&&) noexcept;

    // Reader names; empty when there are none (not an error).
    Result<std::vector<std::string>> readers() const;
    // `wanted` if given (an exact name, or a substring matching exactly one
    // reader); otherwise the only reader holding a card. Clear errors for no
    // reader, no card, several candidates.
    Result<std::string> pick_reader(const std::optional<std::string>& wanted) const;
    Result<Connection> connect(const std::string& reader) const;

    Result<CardPresence> presence(const std::string& reader) const;
    // Blocks until the reader's card is `until` or the timeout passes
    // (Errc::temporary). Returns at once if it already is. A reader that does
    // not exist, or goes, has no card (absent); it is an error for present.
    Result<void> wait_for(const std::string& reader, CardPresence until,
                          std::chrono::milliseconds timeout) const;
    // Makes a wait_for in another thread return (Errc::temporary "cancelled").
    void cancel() const;

  private:
    explicit Context(long handle) : handle_(handle) {}
    long handle_ = 0;
    bool valid_ = false;
    friend class Connection;
};

class Connection : public Transport {
  public:
    ~Connection() override;
    Connection(Connection&&) noexcept;
    Connection& operator=(Connection&&) noexcept;

    const std::string& reader() const { return reader_; }
    Result<Bytes> transmit_raw(ByteView apdu) override;
    std::string_view name() const override { return reader_; }

    // An exclusive PC/SC transaction; ending it with reset clears the card's
    // security state (a verified PIN does not outlive the transaction).
    Result<void> begin_transaction();
    void end_transaction(bool reset);

  private:
    Connection(long context, long card, unsigned long protocol, std::string reader)
        : context_(context), card_(card), protocol_(protocol), reader_(std::move(reader)) {}
    friend class Context;
    long reconnect();  // after a card reset; returns the PC/SC code
    // An exchange that failed, or came back too short, may be a card pulled
    // in the middle of it: if the card leaves within the moment pcscd needs
    // to see that, the error says so (Reason::no_card), whatever PC/SC said.
    Error gone_or(Error e) const;
    long context_ = 0;  // the Context's handle (it outlives the connection)
    long card_ = 0;
    unsigned long protocol_ = 0;
    std::string reader_;
    bool valid_ = true;
};

// Begins a transaction and ends it (with a card reset) when it goes out of scope.
class Transaction {
  public:
    static Result<Transaction> begin(Connection& connection);
    ~Transaction();
    Transaction(Transaction&& other) noexcept : connection_(other.connection_) {
        other.connection_ = nullptr;
    }
    Transaction& operator=(Transaction&&) = delete;

  private:
    explicit Transaction(Connection* c) : connection_(c) {}
    Connection* connection_;
};

}  // namespace cug::card
