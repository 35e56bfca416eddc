//! The `idgraph` command line (CONTRACT.md section 2).
fn main() {}
