//! The summary rebuilt from a real journal (2×H200, docs/hardware/): counts, baseline
//! verdict and where the unlisted flagged cases are.

use hil_run::{baseline, journal, summary};
use std::path::Path;

#[test]
fn h200x2_journal_summarises_to_what_the_board_printed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let state = journal::read(&root.join("docs/hardware/2026-11-24-h200x2-final-journal.jsonl"))
        .expect("journal reads");
    let base = baseline::load(&root.join("fixtures/baselines/h200-driver580.yaml"))
        .expect("baseline loads");
    let cmp = baseline::compare(Some(&base), &state);
    let text = summary::render(&state, 67.2, &cmp, Some("h200-driver580.yaml"));
    assert!(
        text.contains("pass 47 · fail 2 · not-supported 57 · flagged 16 · crash 0 · timeout 0"),
        "{text}"
    );
    assert!(text.contains("0 regression(s)"), "{text}");
    // 16 flagged, 12 listed: the rest are named with their observations in flagged.md.
    assert!(text.contains("… 4 more in flagged.md"), "{text}");
    assert_eq!(summary::exit_code(&state, &cmp), 0);
}
