#include "text.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace demo {

namespace {

// Common English words first (the skewed draw favours them), then some
// technical ones.
constexpr std::string_view kWords[] = {
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "they", "you", "were", "her", "she", "there", "been", "one", "all", "we", "their", "has",
    "would", "when", "if", "so", "no", "will", "more", "can", "who", "out", "up", "them", "some",
    "into", "time", "only", "its", "my", "than", "first", "other", "could", "new", "like", "these",
    "two", "may", "then", "any", "people", "over", "such", "our", "what", "also", "after", "most",
    "made", "year", "well", "years", "back", "where", "much", "your", "way", "down", "should",
    "because", "each", "just", "those", "how", "while", "city", "system", "work", "world", "house",
    "part", "small", "number", "between", "state", "point", "government", "during", "without",
    "another", "place", "against", "again", "never", "under", "same", "last", "might", "great",
    "life", "day", "old", "through", "long", "being", "high", "school", "water", "head", "side",
    "found", "around", "every", "country", "since", "following", "both", "light", "land",
    "important", "until", "left", "however", "although", "river", "name", "music", "early",
    "history", "family", "public", "known", "later", "called", "within", "along", "several",
    "often", "group", "second", "power", "major", "local", "sound", "story", "form", "area",
    "include", "play", "large", "north", "south", "west", "east", "night", "war", "become", "open",
    "change", "start", "order", "follow", "began", "seem", "thought", "together", "given",
    "better", "street", "young", "white", "real", "half", "national", "general", "support",
    "result", "report", "market", "service", "center", "level", "language", "council", "different",
    "village", "island", "century", "station", "church", "record", "building", "design", "season",
    "member", "species", "software", "library", "network", "server", "client", "request",
    "response", "protocol", "memory", "process", "thread", "kernel", "buffer", "stream", "socket",
    "header", "cache", "route", "proxy", "backend", "frontend", "latency", "throughput",
    "compression", "window",
};
constexpr size_t kNumWords = sizeof kWords / sizeof kWords[0];

constexpr std::string_view kHead =
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    "<title>demo-origin text</title>\n</head>\n<body>\n";

void append_capitalized(std::string& out, std::string_view w) {
  out += char(w[0] >= 'a' && w[0] <= 'z' ? w[0] - 'a' + 'A' : w[0]);
  out.append(w.substr(1));
}

}  // namespace

// splitmix64 (Vigna): a fixed, portable sequence from the fixed seed.
uint64_t TextGen::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Three times in four the product of two uniform draws (index a*b/W: dense
// near the start of the list), else a uniform one.
std::string_view TextGen::word() {
  size_t a = below(kNumWords), b = below(kNumWords);
  if (below(4) != 0) return kWords[a * b / kNumWords];
  return kWords[below(kNumWords)];
}

// 4 to 17 words, some as links, emphasis or code, a few commas, then "." or "?".
void TextGen::sentence() {
  size_t n = 4 + below(14);
  for (size_t i = 0; i < n; ++i) {
    std::string_view w = word();
    size_t k = below(12);
    if (i == 0) {
      append_capitalized(buf_, w);
    } else if (k == 0) {
      buf_ += " <a class=\"internal\" href=\"/wiki/";
      buf_ += w;
      buf_ += "\" title=\"";
      buf_ += w;
      buf_ += "\">";
      buf_ += w;
      buf_ += "</a>";
    } else if (k == 1) {
      buf_ += " <em>";
      buf_ += w;
      buf_ += "</em>";
    } else if (k == 2) {
      buf_ += " <code>";
      buf_ += w;
      buf_ += '_';
      buf_ += std::to_string(below(100));
      buf_ += "</code>";
    } else {
      buf_ += ' ';
      buf_ += w;
    }
    if (i != 0 && i < n - 1 && below(10) == 0) buf_ += ',';
  }
  buf_ += below(8) != 0 ? '.' : '?';
}

// <section> with an <h2> of 2 to 5 words, then 2 to 6 blocks: a list of 2 to
// 6 items (one in five) or a paragraph of 2 to 7 sentences.
void TextGen::section() {
  buf_ += "<section id=\"s";
  buf_ += std::to_string(++sections_);
  buf_ += "\">\n<h2>";
  for (size_t i = 0, n = 2 + below(4); i < n; ++i) {
    std::string_view w = word();
    if (i != 0) buf_ += ' ';
    append_capitalized(buf_, w);
  }
  buf_ += "</h2>\n";
  for (size_t p = 0, np = 2 + below(5); p < np; ++p) {
    if (below(5) == 0) {
      buf_ += "<ul>\n";
      for (size_t j = 0, nj = 2 + below(5); j < nj; ++j) {
        buf_ += "  <li class=\"item\">";
        sentence();
        buf_ += "</li>\n";
      }
      buf_ += "</ul>\n";
    } else {
      buf_ += "<p class=\"text\">";
      for (size_t j = 0, nj = 2 + below(6); j < nj; ++j) {
        if (j != 0) buf_ += ' ';
        sentence();
      }
      buf_ += "</p>\n";
    }
  }
  buf_ += "</section>\n";
}

void TextGen::fill(char* dst, size_t n) {
  while (n > 0) {
    if (pos_ == buf_.size()) {
      buf_.clear();
      pos_ = 0;
      if (!started_) {
        buf_ = kHead;
        started_ = true;
      } else {
        section();
      }
    }
    size_t k = std::min(n, buf_.size() - pos_);
    std::memcpy(dst, buf_.data() + pos_, k);
    pos_ += k;
    dst += k;
    n -= k;
  }
}

}  // namespace demo
