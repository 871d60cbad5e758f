//! `hil-run`: drives `hil-suite` on boards, journals every result as it arrives, and
//! writes JUnit plus a one-screen summary.

pub mod baseline;
pub mod board;
pub mod inventory;
pub mod journal;
pub mod junit;
pub mod session;
pub mod summary;
pub mod tail;
pub mod transport;
