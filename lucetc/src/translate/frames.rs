//! Control frames: what the translator remembers of each enclosing
//! `block`, `loop`, `if`, `try_table`, legacy `try` and the function body
//! itself.

use cranelift_codegen::ir;
use cranelift_frontend::Variable;

/// The kind of construct a frame belongs to.
pub(crate) enum FrameKind {
    /// `block`, or the function body (the outermost frame).
    Block,
    /// `loop`: branches go back to the header, with the loop's parameters.
    Loop {
        /// The block branched to by `br` to this frame.
        header: ir::Block,
    },
    /// `if`: the else arm starts from the parameters the `if` was given.
    If {
        /// Where the condition's false edge goes.
        else_block: ir::Block,
        /// The parameter values, for the else arm (the then arm consumed
        /// them from the value stack).
        params: Vec<ir::Value>,
        /// Whether `else` has been seen.
        else_seen: bool,
    },
    /// `try_table`: calls in its body land on `dispatch`, which was
    /// filled in when the frame opened (its catch clauses are known then).
    TryTable {
        /// Takes the exception and matches it against the clauses.
        dispatch: ir::Block,
    },
    /// Legacy `try`: calls in its body land on `dispatch`, which is
    /// filled in at `end` or `delegate`, once every clause is known.
    Try {
        /// Takes the exception and matches it against the clauses.
        dispatch: ir::Block,
        /// `catch` (`Some(tag)`) and `catch_all` (`None`) clauses so far,
        /// each with the block that starts it (taking the exception).
        clauses: Vec<(Option<u32>, ir::Block)>,
        /// Inside a clause: the caught exception, for `rethrow`.
        caught: Option<Variable>,
    },
}

impl FrameKind {
    /// The block a call or throw inside this frame lands on, if the frame
    /// handles exceptions there (a legacy `try` does in its body, not in
    /// its clauses).
    pub fn handler(&self) -> Option<ir::Block> {
        match self {
            FrameKind::TryTable { dispatch } => Some(*dispatch),
            FrameKind::Try {
                dispatch,
                caught: None,
                ..
            } => Some(*dispatch),
            _ => None,
        }
    }
}

/// One enclosing construct.
pub(crate) struct Frame {
    /// What it is.
    pub kind: FrameKind,
    /// The block after its `end`, taking its results as parameters.
    pub exit: ir::Block,
    /// How many results it has.
    pub results: usize,
    /// How many parameters it has.
    pub params: usize,
    /// The value-stack height below its parameters.
    pub height: usize,
    /// Whether anything jumps to `exit` yet (so code after `end` is
    /// reachable).
    pub exit_reached: bool,
}

impl Frame {
    /// Where `br` to this frame goes, and how many values it carries.
    /// Marks the exit reached when that is where the branch goes.
    pub fn branch_target(&mut self) -> (ir::Block, usize) {
        match self.kind {
            FrameKind::Loop { header } => (header, self.params),
            _ => {
                self.exit_reached = true;
                (self.exit, self.results)
            }
        }
    }
}
