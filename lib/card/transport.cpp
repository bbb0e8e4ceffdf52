#include "card/transport.hpp"

namespace cug::card {

namespace {

// The most a card may send for one command, over all GET RESPONSE rounds.
constexpr std::size_t max_response = 64 * 1024;

}  // namespace

Result<Response> Transport::transmit(const Command& command) {
    const std::vector<Bytes> chain = encode_chain(command);
    for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
        auto part = CUG_TRY(parse_response(CUG_TRY(transmit_raw(chain[i]))));
        if (!part.ok()) return part;  // the card refused part of the chain
    }
    Response response = CUG_TRY(parse_response(CUG_TRY(transmit_raw(chain.back()))));
    for (int retries = 0; response.sw1() == 0x6c && retries < 2; ++retries) {
        // Wrong length: the same (last) command with the length the card wants.
        Command again = command;
        if (command.data.size() > 255)
            again.data.assign(command.data.end() -
                                  static_cast<std::ptrdiff_t>((command.data.size() - 1) % 255 + 1),
                              command.data.end());
        again.le = response.sw2() == 0 ? 256 : response.sw2();
        response = CUG_TRY(parse_response(CUG_TRY(transmit_raw(encode(again)))));
    }
    Bytes data = std::move(response.data);
    while (response.sw1() == 0x61) {
        if (data.size() > max_response)
            return make_error(Errc::protocol, "the card in '{}' sent more than {} bytes", name(),
                              max_response);
        const Bytes get_response{0x00, 0xc0, 0x00, 0x00, response.sw2()};
        response = CUG_TRY(parse_response(CUG_TRY(transmit_raw(get_response))));
        data.insert(data.end(), response.data.begin(), response.data.end());
    }
    response.data = std::move(data);
    return response;
}

}  // namespace cug::card
