// The gpumod command line: parses argv, runs one command, maps errors to exit codes.
// Thread-safety: call once per process.
#pragma once

namespace gpumod::app {

int main(int argc, char** argv);

}  // namespace gpumod::app
