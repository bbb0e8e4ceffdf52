#include "card/pcsc.hpp"

#include <winscard.h>
#include <wintypes.h>

#include <algorithm>
#include <cstring>

namespace cug::card {

static_assert(sizeof(SCARDCONTEXT) == sizeof(long) && sizeof(SCARDHANDLE) == sizeof(long));

namespace {

std::string in_reader(std::string_view reader) {
    return reader.empty() ? std::string() : fmt::format(" '{}'", reader);
}

}  // namespace

static Error describe_pcsc(long rc, std::string_view what, std::string_view reader);

Error pcsc_error(long rc, std::string_view what, std::string_view reader) {
    Error e = describe_pcsc(rc, what, reader);
    switch (rc) {
        case SCARD_E_NO_SERVICE:
        case SCARD_E_SERVICE_STOPPED:
        case SCARD_E_NO_READERS_AVAILABLE:
        case SCARD_E_UNKNOWN_READER:
        case SCARD_E_READER_UNAVAILABLE:
        case SCARD_E_NO_SMARTCARD:
        case SCARD_W_REMOVED_CARD:
        case SCARD_E_NOT_TRANSACTED:
            e.reason = Reason::no_card;
            break;
    }
    return e;
}

static Error describe_pcsc(long rc, std::string_view what, std::string_view reader) {
    const std::string r = in_reader(reader);
    switch (rc) {
        case SCARD_E_NO_SERVICE:
        case SCARD_E_SERVICE_STOPPED:
            return make_error(Errc::unavailable,
                              "{}: the smart card service (pcscd) is not running", what);
        case SCARD_E_NO_READERS_AVAILABLE:
            return make_error(Errc::unavailable, "{}: no smart card reader", what);
        case SCARD_E_UNKNOWN_READER:
        case SCARD_E_READER_UNAVAILABLE:
            return make_error(Errc::unavailable, "{}: reader{} is not available", what, r);
        case SCARD_E_NO_SMARTCARD:
            return make_error(Errc::unavailable, "{}: no card in reader{}", what, r);
        case SCARD_W_REMOVED_CARD:
        case SCARD_E_NOT_TRANSACTED:
            return make_error(Errc::io, "{}: the card was removed from reader{}", what, r);
        case SCARD_W_UNRESPONSIVE_CARD:
        case SCARD_W_UNPOWERED_CARD:
        case SCARD_W_UNSUPPORTED_CARD:
            return make_error(Errc::io, "{}: the card in reader{} does not respond", what, r);
        case SCARD_E_SHARING_VIOLATION:
            return make_error(Errc::temporary, "{}: reader{} is in use by another program", what,
                              r);
        case SCARD_W_RESET_CARD:
            return make_error(Errc::temporary, "{}: another program reset the card in reader{}",
                              what, r);
        case SCARD_E_TIMEOUT:
            return make_error(Errc::temporary, "{}: timed out", what);
        case SCARD_E_CANCELLED:
            return make_error(Errc::temporary, "{}: cancelled", what);
        default:
            return make_error(Errc::io, "{}: {} (0x{:08x})", what, pcsc_stringify_error(rc),
                              static_cast<std::uint32_t>(rc));
    }
}

// --- Context ----------------------------------------------------------------

Result<Context> Context::establish() {
    SCARDCONTEXT handle = 0;
    LONG rc = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &handle);
    if (rc != SCARD_S_SUCCESS) return pcsc_error(rc, "connecting to pcscd");
    Context c(handle);
    c.valid_ = true;
    return c;
}

Context::~Context() {
    if (valid_) SCardReleaseContext(handle_);
}

Context::Context(Context&& other) noexcept : handle_(other.handle_), valid_(other.valid_) {
    other.valid_ = false;
}

Context& Context::operator=(Context&& other) noexcept {
    if (this != &other) {
        if (valid_) SCardReleaseContext(handle_);
        handle_ = other.handle_;
        valid_ = other.valid_;
        other.valid_ = false;
    }
    return *this;
}

Result<std::vector<std::string>> Context::readers() const {
    DWORD length = 0;
    LONG rc = SCardListReaders(handle_, nullptr, nullptr, &length);
    if (rc == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>();
    if (rc != SCARD_S_SUCCESS) return pcsc_error(rc, "listing readers");
    std::string buffer(length, '\0');
    rc = SCardListReaders(handle_, nullptr, buffer.data(), &length);
    if (rc == SCARD_E_NO_READERS_AVAILABLE) return std::vector<std::string>();
    if (rc != SCARD_S_SUCCESS) return pcsc_error(rc, "listing readers");
    std::vector<std::string> names;
    // A multi-string: names separated by NUL, ended by an empty one.
    for (std::size_t pos = 0; pos < buffer.size() && buffer[pos] != '\0';) {
        const std::size_t end = buffer.find('\0', pos);
        names.push_back(buffer.substr(pos, end - pos));
        if (end == std::string::npos) break;
        pos = end + 1;
    }
    return names;
}

Result<CardPresence> Context::presence(const std::string& reader) const {
    SCARD_READERSTATE state{};
    state.szReader = reader.c_str();
    state.dwCurrentState = SCARD_STATE_UNAWARE;
    LONG rc = SCardGetStatusChange(handle_, 0, &state, 1);
    if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT)
        return pcsc_error(rc, "reading the reader's state", reader);
    if (state.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE))
        return pcsc_error(SCARD_E_UNKNOWN_READER, "reading the reader's state", reader);
    return (state.dwEventState & SCARD_STATE_PRESENT) ? CardPresence::present
                                                      : CardPresence::absent;
}

Result<std::string> Context::pick_reader(const std::optional<std::string>& wanted) const {
    auto names = CUG_TRY(readers());
    if (names.empty())
        return with_reason(
            make_error(Errc::unavailable,
                       "no smart card reader (is it plugged in, and pcscd running?)"),
            Reason::no_card);
    if (wanted) {
        if (std::find(names.begin(), names.end(), *wanted) != names.end()) return *wanted;
        std::vector<std::string> matches;
        for (const auto& n : names)
            if (n.find(*wanted) != std::string::npos) matches.push_back(n);
        if (matches.size() == 1) return matches[0];
        if (matches.empty())
            return make_error(Errc::unavailable, "no reader named '{}' (there are: {})", *wanted,
                              fmt::join(names, ", "));
        return make_error(Errc::usage, "'{}' matches several readers: {}", *wanted,
                          fmt::join(matches, ", "));
    }
    std::vector<std::string> with_card;
    for (const auto& n : names)
        if (CUG_TRY(presence(n)) == CardPresence::present) with_card.push_back(n);
    if (with_card.size() == 1) return with_card[0];
    if (with_card.empty())
        return with_reason(
            make_error(Errc::unavailable, "no card in any reader ({})", fmt::join(names, ", ")),
            Reason::no_card);
    return make_error(Errc::usage, "cards in several readers ({}); choose one with --reader",
                      fmt::join(with_card, ", "));
}

Result<void> Context::wait_for(const std::string& reader, CardPresence until,
                               std::chrono::milliseconds timeout) const {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    SCARD_READERSTATE state{};
    state.szReader = reader.c_str();
    state.dwCurrentState = SCARD_STATE_UNAWARE;
    LONG rc = SCardGetStatusChange(handle_, 0, &state, 1);
    const bool gone_is_absent = until == CardPresence::absent;
    if (rc == SCARD_E_UNKNOWN_READER && gone_is_absent) return ok();
    if (rc != SCARD_S_SUCCESS && rc != SCARD_E_TIMEOUT)
        return pcsc_error(rc, "watching the reader", reader);
    // The upper 16 bits count insertions and removals: a card pulled and put
    // back between two looks still counts as having left.
    const DWORD first_count = state.dwEventState >> 16;
    for (;;) {
        const bool present = state.dwEventState & SCARD_STATE_PRESENT;
        // A reader that is gone (a token that is reader and card at once,
        // unplugged) holds no card: that is what waiting for absence means.
        if (state.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) {
            if (gone_is_absent) return ok();
            return pcsc_error(SCARD_E_UNKNOWN_READER, "watching the reader", reader);
        }
        if (until == CardPresence::present && present) return ok();
        if (until == CardPresence::absent &&
            (!present || (state.dwEventState >> 16) != first_count))
            return ok();
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        if (left.count() <= 0) return pcsc_error(SCARD_E_TIMEOUT, "waiting for the card", reader);
        state.dwCurrentState = state.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
        rc = SCardGetStatusChange(handle_, static_cast<DWORD>(left.count()), &state, 1);
        if (rc == SCARD_E_TIMEOUT) continue;
        if (rc == SCARD_E_UNKNOWN_READER && gone_is_absent) return ok();
        if (rc != SCARD_S_SUCCESS) return pcsc_error(rc, "watching the reader", reader);
    }
}

void Context::cancel() const {
    SCardCancel(handle_);
}

Result<Connection> Context::connect(const std::string& reader) const {
    SCARDHANDLE card = 0;
    DWORD protocol = 0;
    LONG rc = SCardConnect(handle_, reader.c_str(), SCARD_SHARE_SHARED,
                           SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &card, &protocol);
    if (rc != SCARD_S_SUCCESS) return pcsc_error(rc, "connecting to the card", reader);
    return Connection(handle_, card, protocol, reader);
}

// --- Connection -------------------------------------------------------------

Connection::~Connection() {
    if (valid_) SCardDisconnect(card_, SCARD_LEAVE_CARD);
}

Connection::Connection(Connection&& other) noexcept
    : context_(other.context_),
      card_(other.card_),
      protocol_(other.protocol_),
      reader_(std::move(other.reader_)),
      valid_(other.valid_) {
    other.valid_ = false;
}

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        if (valid_) SCardDisconnect(card_, SCARD_LEAVE_CARD);
        context_ = other.context_;
        card_ = other.card_;
        protocol_ = other.protocol_;
        reader_ = std::move(other.reader_);
        valid_ = other.valid_;
        other.valid_ = false;
    }
    return *this;
}

long Connection::reconnect() {
    DWORD proto = 0;
    LONG rc = SCardReconnect(card_, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1,
                             SCARD_LEAVE_CARD, &proto);
    if (rc == SCARD_S_SUCCESS) protocol_ = proto;
    return rc;
}

Result<Bytes> Connection::transmit_raw(ByteView apdu) {
    const SCARD_IO_REQUEST* pci = protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    Bytes out(258 + 16);
    DWORD length = static_cast<DWORD>(out.size());
    LONG rc = SCardTransmit(card_, pci, apdu.data(), static_cast<DWORD>(apdu.size()), nullptr,
                            out.data(), &length);
    if (rc == SCARD_W_RESET_CARD && (rc = reconnect()) == SCARD_S_SUCCESS) {
        // Another program reset the card between our transactions: carry on
        // with the fresh card (every operation selects and verifies anew).
        length = static_cast<DWORD>(out.size());
        rc = SCardTransmit(card_, protocol_ == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1,
                           apdu.data(), static_cast<DWORD>(apdu.size()), nullptr, out.data(),
                           &length);
    }
    if (rc != SCARD_S_SUCCESS) return gone_or(pcsc_error(rc, "talking to the card", reader_));
    out.resize(length);
    if (out.size() < 2)
        return gone_or(make_error(Errc::protocol, "card response shorter than 2 bytes"));
    return out;
}

Error Connection::gone_or(Error e) const {
    if (e.reason == Reason::no_card) return e;
    const Context view(context_);  // not its owner: nothing is released
    if (view.wait_for(reader_, CardPresence::absent, std::chrono::milliseconds(1500)))
        return with_reason(make_error(Errc::io,
                                      "the card was removed from reader{} during the "
                                      "operation",
                                      in_reader(reader_)),
                           Reason::no_card);
    return e;
}

Result<void> Connection::begin_transaction() {
    LONG rc = SCardBeginTransaction(card_);
    // The card was reset since we last used it -- by the end of our own
    // previous transaction, or by another program: reconnect and go on.
    if (rc == SCARD_W_RESET_CARD && (rc = reconnect()) == SCARD_S_SUCCESS)
        rc = SCardBeginTransaction(card_);
    if (rc != SCARD_S_SUCCESS) return gone_or(pcsc_error(rc, "reserving the card", reader_));
    return ok();
}

void Connection::end_transaction(bool reset) {
    SCardEndTransaction(card_, reset ? SCARD_RESET_CARD : SCARD_LEAVE_CARD);
}

Result<Transaction> Transaction::begin(Connection& connection) {
    CUG_CHECK(connection.begin_transaction());
    return Transaction(&connection);
}

Transaction::~Transaction() {
    if (connection_) connection_->end_transaction(true);
}

}  // namespace cug::card
