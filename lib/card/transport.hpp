// Something that exchanges APDUs with a card: a PC/SC connection, or (in
// tests) a virtual card in the same process.
#pragma once

#include "card/apdu.hpp"

#include <string_view>

namespace cug::card {

class Transport {
  public:
    virtual ~Transport() = default;
    // One exchange of bytes, as the card answered them.
    virtual Result<Bytes> transmit_raw(ByteView apdu) = 0;
    // For messages: the reader's name.
    virtual std::string_view name() const = 0;

    // A whole command: chained when long, 61xx answered with GET RESPONSE until
    // all data is in, 6Cxx re-sent with the length the card asked for.
    Result<Response> transmit(const Command& command);
};

}  // namespace cug::card
