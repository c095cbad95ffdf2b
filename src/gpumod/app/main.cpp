#include "gpumod/app/main.hpp"

#include <cstdio>

namespace gpumod::app {

int main(int argc, char** argv) {
  (void)argc;
  (void)argv;
  std::puts("gpumod");
  return 0;
}

}  // namespace gpumod::app
