// The store's seal key (lib/store/seal_key): the file, and what sealing keeps.
#include "store/seal_key.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

using namespace cug;
using store::SealKey;

TEST_CASE("a sealed value opens under its own key and context only") {
    const SealKey k = SealKey::generate();
    const Bytes secret = to_bytes("epoch secret of VPN1");
    const Bytes sealed = k.seal(secret, "groups/VPN1");
    CHECK(sealed.size() == secret.size() + 1 + 4 + 12 + 16);
    auto opened = k.open(sealed, "groups/VPN1");
    REQUIRE(opened.ok());
    CHECK(as_chars(opened->view()) == "epoch secret of VPN1");
    CHECK(k.seal(secret, "groups/VPN1") != sealed);  // a fresh nonce each time

    auto moved = k.open(sealed, "groups/VPN2");
    REQUIRE_FALSE(moved.ok());
    CHECK(moved.error().message.find("moved") != std::string::npos);
    Bytes damaged = sealed;
    damaged.back() ^= 1;
    CHECK_FALSE(k.open(damaged, "groups/VPN1").ok());
    CHECK_FALSE(k.open(ByteView(sealed).first(20), "groups/VPN1").ok());

    const SealKey other = SealKey::generate();
    auto wrong = other.open(sealed, "groups/VPN1");
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().message == "'groups/VPN1' was sealed with another seal key (" +
                                       k.id_text() + "; this host's is " + other.id_text() + ")");
}

TEST_CASE("the seal key's file: written once, read back, and refused when others can read it") {
    testing::TempDir dir;
    const SealKey k = SealKey::generate();
    const auto file = dir / "seal.key";
    REQUIRE(k.save(file).ok());
    struct stat st {};
    REQUIRE(stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0400);
    auto again = k.save(file);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().code == Errc::exists);

    auto loaded = SealKey::load(file);
    REQUIRE_MESSAGE(loaded.ok(), (loaded.ok() ? "" : loaded.error().message));
    CHECK(loaded->id_text() == k.id_text());
    auto opened = loaded->open(k.seal(to_bytes("x"), "c"), "c");
    REQUIRE(opened.ok());

    REQUIRE(chmod(file.c_str(), 0440) == 0);
    auto readable = SealKey::load(file);
    REQUIRE_FALSE(readable.ok());
    CHECK(readable.error().code == Errc::permission);
    CHECK(readable.error().message.find("mode 0440") != std::string::npos);
    REQUIRE(chmod(file.c_str(), 0400) == 0);
    REQUIRE(chown(file.c_str(), 65534, 65534) == 0);
    CHECK(SealKey::load(file).error().code == Errc::permission);

    std::filesystem::create_symlink(file, dir / "link.key");
    CHECK_FALSE(SealKey::load(dir / "link.key").ok());
    CHECK(SealKey::load(dir / "none.key").error().code == Errc::no_input);

    const auto bad = dir / "bad.key";
    std::ofstream(bad) << "cug-store-seal-1:tooshort\n";
    REQUIRE(chmod(bad.c_str(), 0600) == 0);
    CHECK(SealKey::load(bad).error().message ==
          bad.string() + ": a seal key is 32 bytes in base64url");
    CHECK_FALSE(SealKey::parse("something else").ok());
}
