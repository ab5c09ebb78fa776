//! Nothing here: the end-to-end test lives in `tests/`.
