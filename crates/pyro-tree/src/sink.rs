//! The trait every reader pushes stacks into.

/// A consumer of stacks.
///
/// Readers call [`StackSink::add`] with frames borrowed from their input (they live for `'a`, so
/// a sink such as [`StackTree`](crate::StackTree) can keep the `&'a str` without copying), or
/// [`StackSink::add_transient`] when a frame had to be built for the call (decoded, re-joined, made
/// valid UTF-8) and only lives until it returns.
///
/// Frames are given root first. An empty slice adds to the root's own value.
pub trait StackSink<'a> {
    /// Adds `value` to the stack `frames` (root first); the frames only live for this call.
    fn add_transient(&mut self, frames: &[&str], value: u64);

    /// Adds `value` to the stack `frames` (root first), borrowed from the input for `'a`.
    ///
    /// The default forwards to [`StackSink::add_transient`].
    fn add(&mut self, frames: &[&'a str], value: u64) {
        self.add_transient(frames, value);
    }

    /// The sink as an empty [`StackTree`](crate::StackTree), if it is one: a reader may then
    /// build the tree itself (e.g. node by node, without a call per stack) and leave the sink
    /// holding it, as if it had pushed every stack. A reader that fails must leave it empty.
    ///
    /// The default is `None`: every stack is pushed.
    fn as_empty_tree(&mut self) -> Option<&mut crate::StackTree<'a>> {
        None
    }
}

impl<'a, S: StackSink<'a> + ?Sized> StackSink<'a> for &mut S {
    fn add_transient(&mut self, frames: &[&str], value: u64) {
        (**self).add_transient(frames, value);
    }

    fn add(&mut self, frames: &[&'a str], value: u64) {
        (**self).add(frames, value);
    }

    fn as_empty_tree(&mut self) -> Option<&mut crate::StackTree<'a>> {
        (**self).as_empty_tree()
    }
}

/// A sink that records every call in order, owned; handy in tests and for small inputs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VecSink {
    /// `(frames root first, value)` in call order.
    pub stacks: Vec<(Vec<String>, u64)>,
}

impl StackSink<'_> for VecSink {
    fn add_transient(&mut self, frames: &[&str], value: u64) {
        self.stacks
            .push((frames.iter().map(|f| (*f).to_owned()).collect(), value));
    }
}
