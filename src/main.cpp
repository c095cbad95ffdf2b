#include "gpumod/app/main.hpp"

int main(int argc, char** argv) { return gpumod::app::main(argc, argv); }
