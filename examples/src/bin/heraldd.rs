//! heraldd (to be written).
fn main() {}
