//! NAT header rewriting.
