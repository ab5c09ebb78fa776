//! placeholder: the stand-in TMDB server comes with the crawler tests.
