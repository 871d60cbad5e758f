//! Self-contained HTML and SVG for hil's reports (`hil-run`'s `report.html`, `hil-latency
//! --report`): escaping, one page frame and style, and log-axis plots drawn as plain SVG.
//! No dependencies and no I/O, so the board-side suite and the runner share it; each
//! report's content stays with the crate that owns its data.

pub mod html;
pub mod svg;

pub use html::{esc, page, script_json};
