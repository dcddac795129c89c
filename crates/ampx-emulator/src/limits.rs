//! The Management API's limits and vocabularies, as its documentation states
//! them (`shared/reference/amplitude-docs/experiment-management-api-flags.md`
//! and `…-experiments.md`). They are written out here, not imported from the
//! client: the emulator is the oracle the client is tested against, and an
//! oracle that read its answers from the code under test would agree with
//! every mistake in it.

/// "You can have up to 2,000 inclusions per variant. If you go over this
/// limit, Amplitude returns a `400` error."
pub const MAX_INCLUSIONS: usize = 2000;

/// The `op` of a segment condition: "Possible values are: …".
pub const CONDITION_OPS: &[&str] = &[
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "set is",
    "set is not",
    "set contains",
    "set does not contain",
    "glob match",
    "glob does not match",
];

/// The `subprop_op` of an exposure event's filter (the experiments page,
/// `#### subprop_op`).
pub const SUBPROP_OPS: &[&str] = &[
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "glob match",
    "glob does not match",
];
