// The local control socket: one key=value request, one answer (man/cugd.8).
// Each request is checked whole (its command, every key, every value) before
// anything is done; a bad one changes nothing and gets errno=1 and why.
#include "server/daemon_impl.hpp"

#include "store/names.hpp"
#include "wire/json.hpp"

namespace cug::server {

namespace {

// An answer in the form the request asked for: key=value (the default) or,
// with format=json, one JSON object with the same keys, a list being an
// array of objects ("sessions": [{"user": ...}]) where key=value numbers its
// entries ("sessions=2", "session.0.user=...").
class Answer {
  public:
    explicit Answer(bool json) : json_(json) {
        if (json_) j_.begin_object();
    }
    void text(std::string_view k, std::string_view v) {
        if (json_) return j_.field(k, v);
        (void)kv_.add(prefix_ + std::string(k), v);
    }
    void number(std::string_view k, std::uint64_t v) {
        if (json_) return j_.field(k, v);
        (void)kv_.add_u64(prefix_ + std::string(k), v);
    }
    void boolean(std::string_view k, bool v) {
        if (json_) return j_.field(k, v);
        (void)kv_.add_bool(prefix_ + std::string(k), v);
    }
    void begin_list(std::string_view plural, std::size_t count) {
        if (json_) {
            j_.key(plural);
            j_.begin_array();
        } else {
            (void)kv_.add_u64(std::string(plural), count);
        }
    }
    void begin_item(std::string_view singular, std::size_t i) {
        if (json_) return j_.begin_object();
        prefix_ = fmt::format("{}.{}.", singular, i);
    }
    void end_item() {
        if (json_) return j_.end_object();
        prefix_.clear();
    }
    void end_list() {
        if (json_) j_.end_array();
    }
    std::string done() {
        if (!json_) {
            (void)kv_.add("errno", "0");
            return kv_.encode();
        }
        j_.field("errno", 0);
        j_.end_object();
        return j_.str() + "\n";  // an empty line ends the answer, as key=value's does
    }
    static std::string failed(bool json, std::string_view message) {
        if (json) {
            wire::JsonWriter j;
            j.begin_object();
            j.field("errno", 1);
            j.field("message", message);
            j.end_object();
            return j.str() + "\n";
        }
        wire::Message m;
        (void)m.add("errno", "1");
        (void)m.add("message", message);
        return m.encode();
    }

  private:
    bool json_;
    wire::Message kv_;
    wire::JsonWriter j_;
    std::string prefix_;
};

}  // namespace

// The keys each command takes, beyond cmd and format.
Result<void> check_control_request(const wire::Message& r) {
    const std::string_view cmd = CUG_TRY(r.get("cmd"));
    if (auto f = r.find("format"); f && *f != "json" && *f != "kv")
        return make_error(Errc::invalid, "format= is json or kv");
    if (cmd == "status" || cmd == "sessions" || cmd == "reconcile")
        return r.allow_only({"cmd", "format"});
    if (cmd == "kick") {
        CUG_CHECK(r.allow_only({"cmd", "format", "user"}));
        const std::string_view user = CUG_TRY(r.get("user"));
        if (!store::check_user_name(user))
            return make_error(Errc::invalid, "user= is not a user ID");
        return ok();
    }
    if (cmd == "rotate") {
        CUG_CHECK(r.allow_only({"cmd", "format", "group"}));
        if (auto g = r.find("group"); g && !store::check_group_name(*g))
            return make_error(Errc::invalid, "group= is not a group name");
        return ok();
    }
    return make_error(Errc::invalid, "unknown command '{}'", wire::quote_for_message(cmd, 32));
}

std::string DaemonImpl::control_answer(const wire::Message& request) {
    const std::string* format = request.find("format");
    const bool json = format && *format == "json";
    auto error = [&](std::string_view message) { return Answer::failed(json, message); };
    if (auto checked = check_control_request(request); !checked)
        return error(checked.error().message);
    const std::string cmd(*request.get("cmd"));
    if (cmd != "status" && cmd != "sessions") {  // what changes something is logged
        auto or_empty = [&](std::string_view k) {
            const std::string* v = request.find(k);
            return v ? *v : std::string();
        };
        log::event(log::Priority::info, "control",
                   {{"cmd", cmd}, {"user", or_empty("user")}, {"group", or_empty("group")}});
    }
    Answer reply(json);
    if (cmd == "status") {
        auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
        reply.number("uptime", static_cast<std::uint64_t>(unix_now() - started_));
        reply.number("channels", channels_.size());
        reply.number("handshakes", handshakes_->pending());
        reply.number("startups", startups_);
        reply.number("refused_connections", noise_.total(NoiseLog::Kind::connection_refused));
        reply.number("failed_handshakes", noise_.total(NoiseLog::Kind::handshake_failed));
        reply.number("refused_logins", noise_.total(NoiseLog::Kind::login_refused));
        reply.number("refused_resumes", noise_.total(NoiseLog::Kind::resume_refused));
        reply.number("sessions", sessions ? sessions->size() : 0);
        reply.number("port", port_);
        reply.number("reconcile_requests", reconcile_requests_);
        return reply.done();
    }
    if (cmd == "sessions") {
        auto sessions = store_.read([](store::ReadTxn& t) { return t.sessions(); });
        if (!sessions) return error(sessions.error().message);
        reply.begin_list("sessions", sessions->size());
        for (std::size_t i = 0; i < sessions->size(); ++i) {
            const auto& s = (*sessions)[i];
            reply.begin_item("session", i);
            reply.text("user", s.user);
            reply.text("terminal", s.endpoint  ? s.endpoint->to_string()
                                   : s.control ? s.control->to_string()
                                               : "-");
            reply.number("since", static_cast<std::uint64_t>(s.login_time));
            reply.boolean("acknowledged", s.acknowledged);
            reply.boolean("connected", live_channel(s.user) != nullptr);
            reply.end_item();
        }
        reply.end_list();
        return reply.done();
    }
    if (cmd == "kick") {
        const std::string user(*request.get("user"));
        auto session = store_.read([&](store::ReadTxn& t) { return t.find_session(user); });
        if (!session) return error(session.error().message);
        if (!*session) return error(fmt::format("{} has no session", user));
        end_session(user, "session.kicked", "by the control socket", "kicked");
        return reply.done();
    }
    if (cmd == "rotate") {
        std::vector<std::string> groups;
        if (auto g = request.find("group")) {
            auto found = store_.read([&](store::ReadTxn& t) { return t.find_group(*g); });
            if (!found) return error(found.error().message);
            if (!*found) return error(fmt::format("no group '{}'", *g));
            groups.push_back(*g);
        } else if (auto all = store_.read([](store::ReadTxn& t) { return t.groups(); })) {
            for (const auto& each : *all)
                groups.push_back(each.name);
        } else {
            return error(all.error().message);
        }
        rotate(groups);
        reply.number("rotating", rotations_.size());
        return reply.done();
    }
    if (cmd == "reconcile") {
        ++reconcile_requests_;
        auto generation =
            store_.read([](store::ReadTxn& t) -> Result<std::uint64_t> { return t.generation(); });
        if (generation) generation_ = *generation;
        reconcile();
        return reply.done();
    }
    return error("unknown command");  // check_request let nothing else through
}

// Local administrators and scripts: one request, one answer, then close;
// served from the event loop, so a slow or idle client delays nobody.
void DaemonImpl::serve_control() {
    for (auto& request : control_->serve())
        control_->reply(request.id, control_answer(request.message));
}

}  // namespace cug::server
