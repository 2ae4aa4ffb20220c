//! Where canonical bytes go: a `Vec`, a hasher, a bounded preview. A leaf, so the writers
//! (`canonical`), the numbers (`number`) and the digest (`digest`) share it without a circle.

pub(crate) trait Sink {
    fn put(&mut self, bytes: &[u8]);
    /// A bounded sink says when more output is pointless, so big subtrees stop early.
    fn full(&self) -> bool {
        false
    }
    /// A number literal with a fraction or exponent, as its double. Text sinks print it in
    /// ECMAScript form (`number::write_es`); the digest sink encodes it more cheaply (see
    /// `HashSink::float`).
    fn float(&mut self, value: f64);
}
