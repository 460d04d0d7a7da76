// Subcommands of the fer program, one function each.
#pragma once

#include <stdexcept>

namespace fer_cli {

/// A command-line mistake: printed with a pointer to --help, exit code 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

int run_train(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_video(int argc, char** argv);

}  // namespace fer_cli
