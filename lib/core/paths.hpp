// Where an installed cug keeps its things (FHS; set at configure time with
// -DCUG_RUN_DIR=, -DCUG_SERVER_RUN_DIR=, -DCUG_STATE_DIR=, -DCUG_CONF_DIR=). Every default path of
// every program comes from here, and none is a path of the build.
#pragma once

#include <string_view>

#ifndef CUG_RUN_DIR
#define CUG_RUN_DIR "/run/cug"
#endif
#ifndef CUG_SERVER_RUN_DIR
#define CUG_SERVER_RUN_DIR "/run/cugd"
#endif
#ifndef CUG_STATE_DIR
#define CUG_STATE_DIR "/var/lib/cug"
#endif
#ifndef CUG_CONF_DIR
#define CUG_CONF_DIR "/etc/cug"
#endif

namespace cug::paths {

// Sockets: one per cug-tun interface (root's), and cugd's control socket in
// a directory of its own (cugd's user's): two services on one machine never
// share a runtime directory.
inline constexpr std::string_view run_dir = CUG_RUN_DIR;
inline constexpr std::string_view cugd_socket = CUG_SERVER_RUN_DIR "/cugd.sock";
// The store (LMDB environment), owned by cugd's user.
inline constexpr std::string_view store_dir = CUG_STATE_DIR "/store";
// Configuration files.
inline constexpr std::string_view conf_dir = CUG_CONF_DIR;

}  // namespace cug::paths
