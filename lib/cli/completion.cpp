#include "cli/completion.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace cug::cli {

namespace {

// What an option's value is, from its hint ("FILE", "DIR", "TEXT", "INT").
enum class Value { none, text, file, dir };

struct Opt {
    std::vector<std::string> names;  // "-h", "--help"
    Value value = Value::none;
    bool repeats = false;
    std::string description;
};

struct Positional {
    std::string name;
    Value value = Value::text;
    bool many = false;
    std::string description;
};

struct Sub {
    std::string word;  // the name or an alias
    std::string name;  // the subcommand it selects
    std::string description;
};

struct Node {
    std::vector<std::string> path;  // "cug-admin", "member", "add"
    std::vector<Opt> options;
    std::vector<Positional> positionals;
    std::vector<Sub> subs;
};

std::string upper(std::string s) {
    for (auto& c : s)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
}

Value value_of(const CLI::Option& o) {
    if (o.get_expected_max() == 0) return Value::none;
    const std::string hint = upper(o.get_type_name());
    if (hint.find("DIR") != std::string::npos) return Value::dir;
    if (hint.find("FILE") != std::string::npos || hint.find("PATH") != std::string::npos)
        return Value::file;
    return Value::text;
}

// The options and positionals of `app`, and of its option groups (CLI11's
// nameless subcommands), without the hidden ones (group "").
void collect(const CLI::App& app, Node& node, bool in_group) {
    for (const CLI::Option* o : app.get_options({})) {
        if (o->get_group().empty()) continue;
        if (in_group && o == app.get_help_ptr()) continue;  // each group has its own -h
        if (!o->nonpositional()) {
            node.positionals.push_back(
                {o->get_name(), value_of(*o), o->get_expected_max() > 1, o->get_description()});
            continue;
        }
        Opt opt;
        for (const auto& s : o->get_snames())
            opt.names.push_back("-" + s);
        for (const auto& l : o->get_lnames())
            opt.names.push_back("--" + l);
        opt.value = value_of(*o);
        opt.repeats = o->get_expected_max() > 1;
        opt.description = o->get_description();
        node.options.push_back(std::move(opt));
    }
    for (const CLI::App* group : app.get_subcommands({}))
        if (group->get_name().empty()) collect(*group, node, true);
}

void walk(const CLI::App& app, std::vector<std::string> path, std::vector<Node>& out) {
    Node node{path, {}, {}, {}};
    collect(app, node, false);
    std::vector<const CLI::App*> children;
    for (const CLI::App* s : app.get_subcommands({})) {
        if (s->get_name().empty() || s->get_group().empty() || s->get_disabled()) continue;
        node.subs.push_back({s->get_name(), s->get_name(), s->get_description()});
        for (const auto& alias : s->get_aliases())
            node.subs.push_back({alias, s->get_name(), s->get_description()});
        children.push_back(s);
    }
    out.push_back(std::move(node));
    for (const CLI::App* s : children) {
        auto child = path;
        child.push_back(s->get_name());
        walk(*s, std::move(child), out);
    }
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
    std::string out;
    for (const auto& w : words) {
        if (!out.empty()) out += separator;
        out += w;
    }
    return out;
}

// A word inside single quotes, for either shell.
std::string single_quoted(std::string_view text) {
    std::string out = "'";
    for (char c : text)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string function_name(const std::vector<std::string>& path) {
    std::string name = "_" + join(path, "_");
    std::replace(name.begin(), name.end(), '-', '_');
    return name;
}

// ---- bash -------------------------------------------------------------

const char* bash_kind(Value v) {
    switch (v) {
        case Value::file:
            return "file";
        case Value::dir:
            return "dir";
        default:
            return "value";
    }
}

std::string bash_script(const std::string& program, const std::vector<Node>& nodes) {
    const std::string fn = function_name({program});
    std::string out = fmt::format(
        "# bash completion for {0}; made by `{0} completion bash`: do not edit.\n"
        "{1}() {{\n"
        "    local cur=${{COMP_WORDS[COMP_CWORD]}} path={2} want= i\n"
        "    [ \"$cur\" = = ] && cur=\n"
        "    # Follow the words before the cursor down the subcommands, stepping\n"
        "    # over each option's value (\"--opt value\" or \"--opt=value\").\n"
        "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        "        want=\n"
        "        case \"$path ${{COMP_WORDS[i]}}\" in\n",
        program, fn, single_quoted(program));
    for (const auto& node : nodes) {
        const std::string path = join(node.path, " ");
        for (const auto& o : node.options) {
            if (o.value == Value::none) continue;
            std::vector<std::string> patterns;
            for (const auto& n : o.names)
                patterns.push_back(single_quoted(path + " " + n));
            out += fmt::format("            {}) want={} ;;\n", join(patterns, "|"),
                               bash_kind(o.value));
        }
        for (const auto& s : node.subs)
            out += fmt::format("            {}) path={} ;;\n", single_quoted(path + " " + s.word),
                               single_quoted(path + " " + s.name));
    }
    out +=
        "        esac\n"
        "        if [ -n \"$want\" ]; then\n"
        "            i=$((i + 1))\n"
        "            [ \"${COMP_WORDS[i]}\" = = ] && i=$((i + 1))\n"
        "        fi\n"
        "    done\n"
        "    COMPREPLY=()\n"
        "    if [ \"$i\" -gt \"$COMP_CWORD\" ]; then  # the cursor is on an option's value\n"
        "        case $want in\n"
        "            file) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f "
        "-- "
        "\"$cur\") ;;\n"
        "            dir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "
        "\"$cur\") ;;\n"
        "        esac\n"
        "        return 0\n"
        "    fi\n"
        "    local opts= subs= files=\n"
        "    case $path in\n";
    for (const auto& node : nodes) {
        std::vector<std::string> options, subs;
        for (const auto& o : node.options)
            options.insert(options.end(), o.names.begin(), o.names.end());
        for (const auto& s : node.subs)
            subs.push_back(s.word);
        std::string files;
        for (const auto& p : node.positionals) {
            if (p.value == Value::dir && files.empty()) files = "d";
            if (p.value == Value::file) files = "f";
        }
        // Where there is nothing else to offer, the options are offered
        // without a leading "-".
        if (subs.empty() && node.positionals.empty()) subs = options;
        out += fmt::format("        {}) opts={} subs={} files={} ;;\n",
                           single_quoted(join(node.path, " ")), single_quoted(join(options, " ")),
                           single_quoted(join(subs, " ")), files);
    }
    out += fmt::format(
        "    esac\n"
        "    if [[ $cur == -* ]]; then\n"
        "        mapfile -t COMPREPLY < <(compgen -W \"$opts\" -- \"$cur\")\n"
        "    else\n"
        "        mapfile -t COMPREPLY < <(compgen -W \"$subs\" -- \"$cur\")\n"
        "        if [ -n \"$files\" ]; then\n"
        "            compopt -o filenames 2>/dev/null\n"
        "            local f\n"
        "            while IFS= read -r f; do COMPREPLY+=(\"$f\"); done < <(compgen -\"$files\" -- "
        "\"$cur\")\n"
        "        fi\n"
        "    fi\n"
        "    return 0\n"
        "}}\n"
        "complete -F {} {}\n",
        fn, program);
    return out;
}

// ---- zsh --------------------------------------------------------------

// Text inside an _arguments description: brackets and colons escaped.
std::string zsh_description(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '\n') c = ' ';
        if (c == '[' || c == ']' || c == ':' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

std::string zsh_action(Value v) {
    switch (v) {
        case Value::file:
            return "_files";
        case Value::dir:
            return "_files -/";
        default:
            return " ";
    }
}

std::string zsh_hint(Value v) {
    switch (v) {
        case Value::file:
            return "file";
        case Value::dir:
            return "directory";
        default:
            return "value";
    }
}

std::string zsh_option(const Opt& o) {
    // -x takes its value as -xVALUE or -x VALUE, --long as --long=VALUE or
    // --long VALUE: "-x+" and "--long=" in _arguments' terms.
    std::vector<std::string> forms;
    for (const auto& n : o.names)
        forms.push_back(o.value == Value::none ? n : n + (n.size() == 2 ? "+" : "="));
    const std::string value =
        o.value == Value::none ? "" : ":" + zsh_hint(o.value) + ":" + zsh_action(o.value);
    const std::string tail = "[" + zsh_description(o.description) + "]" + value;
    const std::string star = o.repeats ? "*" : "";
    if (forms.size() == 1) return single_quoted(star + forms[0] + tail);
    return (o.repeats ? single_quoted("*") : single_quoted("(" + join(o.names, " ") + ")")) + "{" +
           join(forms, ",") + "}" + single_quoted(tail);
}

std::string zsh_script(const std::string& program, const std::vector<Node>& nodes) {
    std::string out = fmt::format(
        "#compdef {0}\n"
        "# zsh completion for {0}; made by `{0} completion zsh`: do not edit.\n",
        program);
    // Children first, so that each function a parent calls is defined above it.
    for (auto node = nodes.rbegin(); node != nodes.rend(); ++node) {
        const std::string fn = function_name(node->path);
        out += fmt::format("\n{}() {{\n", fn);
        if (!node->subs.empty())
            out +=
                "    local curcontext=$curcontext state state_descr line\n"
                "    typeset -A opt_args\n";
        out += node->subs.empty() ? "    _arguments -s -S" : "    _arguments -C -s -S";
        for (const auto& o : node->options)
            out += " \\\n        " + zsh_option(o);
        if (node->subs.empty()) {
            int n = 0;
            for (const auto& p : node->positionals) {
                const std::string spec = (p.many ? std::string("*") : std::to_string(++n)) + ":" +
                                         zsh_description(p.name) + ":" + zsh_action(p.value);
                out += " \\\n        " + single_quoted(spec);
            }
            out += "\n}\n";
            continue;
        }
        out += " \\\n        ': :->command' \\\n        '*:: :->argument'\n";
        out += "    case $state in\n        command)\n            local -a commands=(\n";
        for (const auto& s : node->subs) {
            std::string word;
            for (char c : s.word)
                word += c == ':' ? std::string("\\:") : std::string(1, c);
            out += "                " + single_quoted(word + ":" + s.description) + "\n";
        }
        out += fmt::format(
            "            )\n"
            "            _describe -t commands {} commands ;;\n"
            "        argument)\n"
            "            curcontext=${{curcontext%:*:*}}:{}-$line[1]:\n"
            "            case $line[1] in\n",
            single_quoted(join(node->path, " ") + " command"), join(node->path, "-"));
        // Each subcommand with its aliases, in the order first seen.
        std::vector<std::string> names;
        for (const auto& s : node->subs)
            if (std::find(names.begin(), names.end(), s.name) == names.end())
                names.push_back(s.name);
        for (const auto& name : names) {
            std::vector<std::string> words;
            for (const auto& s : node->subs)
                if (s.name == name) words.push_back(single_quoted(s.word));
            auto child = node->path;
            child.push_back(name);
            out +=
                fmt::format("                {}) {} ;;\n", join(words, "|"), function_name(child));
        }
        out += "            esac ;;\n    esac\n}\n";
    }
    // Autoloaded from the file _PROGRAM, this body runs as _PROGRAM: complete
    // now. Sourced, it only tells compsys.
    out += fmt::format(
        "\nif [ \"$funcstack[1]\" = {0} ]; then\n"
        "    {1} \"$@\"\n"
        "else\n"
        "    compdef {1} {2}\n"
        "fi\n",
        single_quoted("_" + program), function_name({program}), program);
    return out;
}

}  // namespace

Result<std::string> completion_script(const CLI::App& app, std::string_view shell) {
    std::vector<Node> nodes;
    walk(app, {app.get_name()}, nodes);
    if (shell == "bash") return bash_script(app.get_name(), nodes);
    if (shell == "zsh") return zsh_script(app.get_name(), nodes);
    return make_error(Errc::usage, "completion for '{}'? (bash or zsh)",
                      std::string(shell).substr(0, 32));
}

}  // namespace cug::cli
