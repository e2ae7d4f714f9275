#include "config/waf_rules.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <modsecurity/rules_set.h>

namespace gh::config {

WafRules::~WafRules() = default;

std::string waf_directives(const Waf& conf) {
  const std::string limit = std::to_string(conf.body_limit);
  std::string d;
  d += "SecRuleEngine On\n";
  d += "SecRequestBodyAccess On\n";
  // gatehouse hands ModSecurity at most body_limit + 1 bytes: one byte over
  // the limit marks a body seen only in part (INBOUND_DATA_ERROR), which is
  // then inspected as far as it goes rather than refused.
  d += "SecRequestBodyLimit " + limit + "\n";
  d += "SecRequestBodyNoFilesLimit " + limit + "\n";
  d += "SecRequestBodyLimitAction ProcessPartial\n";
  // The rules' cost grows with the number of arguments (15,000 short
  // form fields took the CRS 2.6 s of a worker thread): ModSecurity stops
  // parsing at 1,000, and since arguments past that would go unseen, such a
  // request is refused (400, rule 200007), as ModSecurity's recommended
  // settings do.
  d += "SecArgumentsLimit 1000\n";
  d += "SecResponseBodyAccess Off\n";
  d += "SecAuditEngine Off\n";
  // Body processors by Content-Type: urlencoded and multipart are
  // ModSecurity's defaults; JSON (also application/x+json) and XML are chosen here.
  d += "SecRule REQUEST_HEADERS:Content-Type \"@rx ^application/(?:[a-z0-9.-]+\\+)?json\" "
       "\"id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON\"\n";
  d += "SecRule REQUEST_HEADERS:Content-Type \"@rx ^(?:application(?:/soap\\+|/)|text/)xml\" "
       "\"id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML\"\n";
  // A complete body its processor cannot parse would hide its arguments
  // from every rule: refused (400). A body seen only in part is cut
  // mid-syntax by gatehouse, not by the client: its checks are skipped.
  d += "SecRule &ARGS \"@ge 1000\" "
       "\"id:200007,phase:2,t:none,log,deny,status:400,msg:'Too many arguments to inspect'\"\n";
  d += "SecRule INBOUND_DATA_ERROR \"@eq 1\" "
       "\"id:200004,phase:2,t:none,pass,nolog,skipAfter:GATEHOUSE_BODY_CHECKED\"\n";
  d += "SecRule REQBODY_ERROR \"!@eq 0\" "
       "\"id:200002,phase:2,t:none,log,deny,status:400,msg:'Request body could not be parsed'\"\n";
  d += "SecRule MULTIPART_STRICT_ERROR \"!@eq 0\" "
       "\"id:200003,phase:2,t:none,log,deny,status:400,msg:'Multipart request body is malformed'\"\n";
  d += "SecMarker GATEHOUSE_BODY_CHECKED\n";
  if (conf.crs) {
    // CRS 3.x names (crs-setup.conf, rules 900000/900001): executing_paranoia_level
    // must not be below paranoia_level; both are set to the level asked for.
    const std::string pl = std::to_string(conf.paranoia_level);
    d += "SecAction \"id:900000,phase:1,pass,t:none,nolog,setvar:tx.paranoia_level=" + pl + "\"\n";
    d += "SecAction \"id:900001,phase:1,pass,t:none,nolog,setvar:tx.executing_paranoia_level=" + pl + "\"\n";
  }
  return d;
}

std::vector<std::string> waf_rule_files(const Waf& conf, std::string& err) {
  if (!conf.crs) return conf.rule_files;
  namespace fs = std::filesystem;
  std::vector<std::string> files(conf.rule_files.begin(),
                                 conf.rule_files.begin() + static_cast<std::ptrdiff_t>(conf.crs_at));
  std::error_code ec;
  if (!fs::exists(kCrsSetup, ec)) {
    err = std::string("the OWASP CRS is not installed (") + kCrsSetup +
          " is missing; Debian/Ubuntu: apt install modsecurity-crs)";
    return {};
  }
  files.emplace_back(kCrsSetup);
  if (fs::exists(kCrsBefore, ec)) files.emplace_back(kCrsBefore);
  std::vector<std::string> rules;
  for (const auto& e : fs::directory_iterator(kCrsRulesDir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("REQUEST-") && name.ends_with(".conf")) rules.push_back(e.path().string());
  }
  if (rules.empty()) {
    err = std::string("the OWASP CRS has no rules in ") + kCrsRulesDir;
    return {};
  }
  std::sort(rules.begin(), rules.end());
  files.insert(files.end(), rules.begin(), rules.end());
  files.insert(files.end(), conf.rule_files.begin() + static_cast<std::ptrdiff_t>(conf.crs_at),
               conf.rule_files.end());
  return files;
}

namespace {

// Compiled sets by the text they came from; weak, so an unused set goes as
// soon as the last config naming it does.
std::mutex compile_mu;
std::map<std::string, std::weak_ptr<const WafRules>>& compiled() {
  static std::map<std::string, std::weak_ptr<const WafRules>> m;
  return m;
}

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace

std::shared_ptr<const WafRules> compile_waf_rules(const Waf& conf, std::string& err) {
  const std::vector<std::string> files = waf_rule_files(conf, err);
  if (files.empty()) {
    if (err.empty()) err = "no rule files";
    return nullptr;
  }
  // The text ModSecurity parses: the directives, then each file by Include
  // (its own line numbers then appear in messages). The key adds the files'
  // bytes, so an edited file is compiled again.
  std::string text = waf_directives(conf);
  std::string key;
  for (const std::string& f : files) {
    if (f.find_first_of("\"\n\r") != std::string::npos) {
      err = "rule file path " + f + " contains a quote or a line break";
      return nullptr;
    }
    std::ifstream in(f, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in.good() && !in.eof()) {
      err = "rule file " + f + " cannot be read";
      return nullptr;
    }
    text += "Include \"" + f + "\"\n";
    key += f;
    key += '\0';
    key += std::move(ss).str();
    key += '\0';
  }
  key = text + '\0' + key;

  std::lock_guard lock(compile_mu);
  auto& cache = compiled();
  for (auto it = cache.begin(); it != cache.end();) {
    if (it->second.expired()) it = cache.erase(it);
    else ++it;
  }
  if (auto it = cache.find(key); it != cache.end())
    if (auto shared = it->second.lock()) return shared;
  auto rules = std::make_shared<WafRules>();
  rules->set = std::make_unique<modsecurity::RulesSet>();
  if (rules->set->load(text.c_str(), "gatehouse-waf") < 0) {
    err = one_line(rules->set->getParserError());
    if (err.empty()) err = "ModSecurity refused the rules";
    return nullptr;
  }
  std::shared_ptr<const WafRules> out = std::move(rules);
  cache[key] = out;
  return out;
}

}  // namespace gh::config
