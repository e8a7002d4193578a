//! Project automation (placeholder until the test gate lands).

fn main() {}
