//! Helpers for the black-box tests in `tests/tests/`: locating the built binary, starting
//! collectors, and the conservation oracle.
