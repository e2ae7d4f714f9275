// Micro-benchmarks of the HTTP/1 head parsers and the chunked decoder.
// Build by hand (not part of the CMake build):
//   g++ -std=c++20 -O2 -DNDEBUG -Isrc bench/micro/parse_bench.cc src/http1/*.cc \
//       -lbenchmark -lbenchmark_main -pthread -o /tmp/parse_bench && /tmp/parse_bench
#include <benchmark/benchmark.h>

#include <string>

#include "http1/chunked.h"
#include "http1/parser.h"

namespace {

using namespace gh::http1;

// A Chrome navigation request: 599 bytes, 13 fields.
const std::string kBrowserGet =
    "GET /articles/2024/05/how-to-build-a-proxy?utm_source=news&page=2 HTTP/1.1\r\n"
    "Host: www.example.com\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n"
    "Sec-Fetch-Site: same-origin\r\n"
    "Sec-Fetch-Mode: navigate\r\n"
    "Sec-Fetch-Dest: document\r\n"
    "Referer: https://www.example.com/articles/\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Cookie: session=3f2a9c1b7e; theme=dark\r\n"
    "\r\n";

void BM_ParseRequestBrowser(benchmark::State& state) {
  RequestHead h;
  ParseError err;
  const Limits lim;
  for (auto _ : state) {
    const ParseStatus st = parse_request(kBrowserGet, h, lim, err);
    benchmark::DoNotOptimize(st);
    benchmark::DoNotOptimize(h.head_size);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(kBrowserGet.size()));
  state.counters["head_bytes"] = double(kBrowserGet.size());
}
BENCHMARK(BM_ParseRequestBrowser);

// The cost of re-running the parser on a head that is not complete yet.
void BM_ParseRequestIncomplete(benchmark::State& state) {
  const std::string partial = kBrowserGet.substr(0, kBrowserGet.size() - 2);
  RequestHead h;
  ParseError err;
  const Limits lim;
  for (auto _ : state) benchmark::DoNotOptimize(parse_request(partial, h, lim, err));
}
BENCHMARK(BM_ParseRequestIncomplete);

// Worst case of re-parsing: a 32 KiB head (many cookies) still missing its end.
void BM_ParseRequestIncomplete32k(benchmark::State& state) {
  std::string partial = "GET / HTTP/1.1\r\nHost: a\r\n";
  while (partial.size() < 32 * 1024 - 200) partial += "Cookie: " + std::string(120, 'c') + "\r\n";
  RequestHead h;
  ParseError err;
  const Limits lim;
  for (auto _ : state) benchmark::DoNotOptimize(parse_request(partial, h, lim, err));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(partial.size()));
}
BENCHMARK(BM_ParseRequestIncomplete32k);

void BM_ParseRequestMinimal(benchmark::State& state) {
  const std::string in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  RequestHead h;
  ParseError err;
  const Limits lim;
  for (auto _ : state) benchmark::DoNotOptimize(parse_request(in, h, lim, err));
}
BENCHMARK(BM_ParseRequestMinimal);

void BM_ParseResponse(benchmark::State& state) {
  const std::string in =
      "HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Mon, 27 May 2024 10:00:00 GMT\r\n"
      "Content-Type: text/html; charset=utf-8\r\nContent-Length: 12345\r\nConnection: keep-alive\r\n"
      "Cache-Control: private, max-age=0\r\nSet-Cookie: session=3f2a9c1b7e; Path=/; HttpOnly; Secure\r\n"
      "Vary: Accept-Encoding\r\n\r\n";
  ResponseHead h;
  ParseError err;
  const Limits lim;
  for (auto _ : state) benchmark::DoNotOptimize(parse_response(in, h, false, lim, err));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(in.size()));
}
BENCHMARK(BM_ParseResponse);

void BM_ChunkedDecode(benchmark::State& state) {
  std::string in;
  for (int i = 0; i < 16; ++i) in += "400\r\n" + std::string(1024, 'x') + "\r\n";
  in += "0\r\n\r\n";
  ChunkedDecoder d;
  for (auto _ : state) {
    d.reset();
    std::string_view rest = in;
    size_t total = 0;
    for (;;) {
      const auto s = d.next(rest);
      total += s.data.size();
      rest.remove_prefix(s.consumed);
      if (s.done || s.error || s.consumed == 0) break;
    }
    benchmark::DoNotOptimize(total);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(in.size()));
}
BENCHMARK(BM_ChunkedDecode);

}  // namespace
