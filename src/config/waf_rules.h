// The `waf` policy's rules compiled by libmodsecurity3 at config load, so a
// bad rule file is a load error (and a failing reload keeps the running
// config), and a request never waits for a parse. One compiled set serves
// every route (and every worker thread: ModSecurity only reads a RulesSet
// while it runs transactions) whose rules, paranoia level and body limit
// are the same.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace modsecurity {
class RulesSet;
}

namespace gh::config {

// Where Debian's modsecurity-crs puts the OWASP CRS: its setup file, the
// optional exclusion file read before the rules, and the rules.
inline constexpr const char* kCrsSetup = "/etc/modsecurity/crs/crs-setup.conf";
inline constexpr const char* kCrsBefore = "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf";
inline constexpr const char* kCrsRulesDir = "/usr/share/modsecurity-crs/rules";

struct WafRules {
  std::unique_ptr<modsecurity::RulesSet> set;
  ~WafRules();
};

// The directives gatehouse puts before the rules (engine on, request
// bodies read up to conf.body_limit bytes, then processed in part; body
// processors for urlencoded, multipart, JSON and XML; a malformed complete
// body refused with 400; no audit log, no response bodies; the CRS paranoia
// level). Text in ModSecurity's rule language.
std::string waf_directives(const Waf& conf);

// The rule files conf names, in load order. The CRS, where it is listed,
// is its setup file, the system's exclusions before the CRS when present,
// then its request rules (REQUEST-*.conf, sorted; the response rules never
// run, since gatehouse does not inspect responses). Empty with `err` set
// when the CRS is missing.
std::vector<std::string> waf_rule_files(const Waf& conf, std::string& err);

// Reads and compiles the rules of conf (mode must not be off). Files are
// read at every call (a reload sees their edits); a set compiled earlier
// from the very same text (directives and every file's bytes) and still in
// use is shared, so routes naming the same rules cost one compile and one
// copy in memory. nullptr with `err` set (ModSecurity's parser message,
// naming file and line) when a file cannot be read or does not compile.
// Thread-safe (ModSecurity's parser is not: compiles are serialized).
std::shared_ptr<const WafRules> compile_waf_rules(const Waf& conf, std::string& err);

}  // namespace gh::config
