// Default sanitizer options of the sanitizer build's unit tests, read by the runtimes at start
// (the documented hooks), so CTest and a developer running a binary by hand get the same: leaks
// and every undefined-behaviour report fail the test, with a stack.
extern "C" const char* __asan_default_options() {  // NOLINT(readability-identifier-naming)
  return "detect_leaks=1:abort_on_error=1";
}
extern "C" const char* __ubsan_default_options() {  // NOLINT(readability-identifier-naming)
  return "print_stacktrace=1:halt_on_error=1";
}
