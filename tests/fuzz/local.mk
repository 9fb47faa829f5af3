# libFuzzer harnesses and the corpus replay that 'make check' runs.
