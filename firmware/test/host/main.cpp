// doctest runner with one extra option: --golden-dir=<path to tests/golden>.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "test_support.h"

std::string g_golden_dir = "../../../../tests/golden";

int main(int argc, char** argv) {
    const char* flag = "--golden-dir=";
    for (int i = 1; i < argc; ++i) {
        if (std::strncmp(argv[i], flag, std::strlen(flag)) == 0) g_golden_dir = argv[i] + std::strlen(flag);
    }
    doctest::Context context;
    context.applyCommandLine(argc, argv);
    return context.run();
}
