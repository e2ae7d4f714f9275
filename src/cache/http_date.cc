#include "cache/http_date.h"

#include <array>

#include "http/exchange.h"
#include "http/token.h"

namespace gh::cache {
namespace {

constexpr std::array<std::string_view, 7> kDays{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> kLongDays{"Monday", "Tuesday", "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

using http::iequals;

template <size_t N>
bool is_one_of(std::string_view s, const std::array<std::string_view, N>& names) {
  for (std::string_view n : names) {
    if (iequals(s, n)) return true;
  }
  return false;
}

// 1..12, or 0 when `s` is not a month name.
int month_number(std::string_view s) {
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (iequals(s, kMonths[i])) return static_cast<int>(i) + 1;
  }
  return 0;
}

// `n` ASCII digits at s[pos..]: their value, or -1.
int digits(std::string_view s, size_t pos, size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!http::is_digit(s[i])) return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
// days_from_civil), valid for any year this parser produces.
int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month;
  int day;
};

Civil civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2), m, d};
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int64_t y, int m) {
  static constexpr int kLen[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kLen[m - 1];
}

// "HH:MM:SS" at s[pos..pos+8): seconds into the day, or -1.
int64_t time_of_day(std::string_view s, size_t pos) {
  if (pos + 8 > s.size() || s[pos + 2] != ':' || s[pos + 5] != ':') return -1;
  int h = digits(s, pos, 2), m = digits(s, pos + 3, 2), sec = digits(s, pos + 6, 2);
  if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) return -1;
  return h * 3600 + m * 60 + sec;
}

std::optional<int64_t> assemble(int64_t year, int month, int day, int64_t tod) {
  if (month == 0 || day < 1 || day > days_in_month(year, month) || tod < 0) return std::nullopt;
  return days_from_civil(year, month, day) * 86400 + tod;
}

// "Sun, 06 Nov 1994 08:49:37 GMT"
std::optional<int64_t> imf_fixdate(std::string_view s) {
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
      s[16] != ' ' || s[25] != ' ')
    return std::nullopt;
  if (!is_one_of(s.substr(0, 3), kDays) || !iequals(s.substr(26), "GMT")) return std::nullopt;
  int day = digits(s, 5, 2), year = digits(s, 12, 4);
  if (day < 0 || year < 0) return std::nullopt;
  return assemble(year, month_number(s.substr(8, 3)), day, time_of_day(s, 17));
}

// "Sunday, 06-Nov-94 08:49:37 GMT"
std::optional<int64_t> rfc850_date(std::string_view s, size_t comma, int64_t now) {
  if (!is_one_of(s.substr(0, comma), kLongDays)) return std::nullopt;
  std::string_view r = s.substr(comma);   // ", 06-Nov-94 08:49:37 GMT"
  if (r.size() != 24 || r[1] != ' ' || r[4] != '-' || r[8] != '-' || r[11] != ' ' ||
      r[20] != ' ' || !iequals(r.substr(21), "GMT"))
    return std::nullopt;
  int day = digits(r, 2, 2), yy = digits(r, 9, 2);
  if (day < 0 || yy < 0) return std::nullopt;
  // Section 5.6.7: never more than 50 years in the future; otherwise the
  // latest matching year, so the century is now's or one either side.
  int64_t now_year = civil_from_days(floor_div(now, 86400)).year;
  int64_t year = floor_div(now_year, 100) * 100 + yy;
  if (year > now_year + 50) year -= 100;
  if (year <= now_year - 50) year += 100;
  std::optional<int64_t> t = assemble(year, month_number(r.substr(5, 3)), day, time_of_day(r, 12));
  if (t && *t > now + 50 * 31556952LL) {   // same year, later in it than 50 years from now
    return assemble(year - 100, month_number(r.substr(5, 3)), day, time_of_day(r, 12));
  }
  return t;
}

// "Sun Nov  6 08:49:37 1994"
std::optional<int64_t> asctime_date(std::string_view s) {
  if (s.size() != 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
    return std::nullopt;
  if (!is_one_of(s.substr(0, 3), kDays)) return std::nullopt;
  int day = s[8] == ' ' ? digits(s, 9, 1) : digits(s, 8, 2);
  int year = digits(s, 20, 4);
  if (day < 0 || year < 0) return std::nullopt;
  return assemble(year, month_number(s.substr(4, 3)), day, time_of_day(s, 11));
}

}  // namespace

std::optional<int64_t> parse_http_date(std::string_view s, int64_t now) {
  if (s.size() < 24) return std::nullopt;
  if (s[3] == ',') return imf_fixdate(s);
  if (s[3] == ' ') return asctime_date(s);
  size_t comma = s.find(',');
  if (comma >= 6 && comma <= 9) return rfc850_date(s, comma, now);
  return std::nullopt;
}

void append_http_date(std::string& out, int64_t t) {
  constexpr int64_t kMin = -62167219200LL;   // 0000-01-01T00:00:00Z
  constexpr int64_t kMax = 253402300799LL;   // 9999-12-31T23:59:59Z
  if (t < kMin) t = kMin;
  if (t > kMax) t = kMax;
  int64_t days = floor_div(t, 86400);
  int64_t secs = t - days * 86400;
  Civil c = civil_from_days(days);
  // 1970-01-01 was a Thursday (index 3 in kDays, which starts on Monday).
  int64_t wd = (days % 7 + 7 + 3) % 7;
  char buf[32];
  auto two = [&](char* p, int64_t v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  std::string_view day_name = kDays[static_cast<size_t>(wd)];
  std::string_view month = kMonths[static_cast<size_t>(c.month - 1)];
  buf[0] = day_name[0], buf[1] = day_name[1], buf[2] = day_name[2];
  buf[3] = ',', buf[4] = ' ';
  two(buf + 5, c.day);
  buf[7] = ' ';
  buf[8] = month[0], buf[9] = month[1], buf[10] = month[2];
  buf[11] = ' ';
  two(buf + 12, c.year / 100);
  two(buf + 14, c.year % 100);
  buf[16] = ' ';
  two(buf + 17, secs / 3600);
  buf[19] = ':';
  two(buf + 20, secs / 60 % 60);
  buf[22] = ':';
  two(buf + 23, secs % 60);
  buf[25] = ' ', buf[26] = 'G', buf[27] = 'M', buf[28] = 'T';
  out.append(buf, 29);
}

}  // namespace gh::cache
