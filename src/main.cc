// argv -> config -> server; nothing else.
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "run";
  if (cmd == "version") {
    std::printf("gatehouse %s\n", GH_VERSION);
    return 0;
  }
  std::fprintf(stderr, "gatehouse: not yet\n");
  return 1;
}
