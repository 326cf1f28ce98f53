//! Zero-copy packet views and checksums.
