//! The queue panel's edits (remove, move, play next) as engine commands, and the window's
//! queue list kept in the engine's order. Runs on the UI thread.
//!
//! The edits themselves are the engine's (engine/queue.rs, on the decoder thread): the window
//! names the entry by the engine's id for it, and after the engine says its queue changed
//! ([`crate::engine::Event::QueueChanged`]) puts its own list in the same order.

use crate::engine::{Engine, EntryId, PlayQueue};

use super::worker::QueueItem;

/// The engine's id for the window's queue entry `index`, when the two lists agree (they
/// differ for a moment while files just queued reach the engine: then the click is not
/// taken, rather than aimed at another entry).
pub fn entry_id(engine: &Engine, queue: &[QueueItem], index: usize) -> Option<EntryId> {
    let q = engine.queue();
    let same = q.len() == queue.len()
        && q.entries()
            .iter()
            .zip(queue)
            .all(|(e, item)| e.path == item.source);
    if same { q.id(index) } else { None }
}

/// The window's list in the engine's order after an edit. Items the engine does not hold yet
/// (queued a moment ago) stay at the end, in their order.
pub fn follow(queue: &mut Vec<QueueItem>, engine: &PlayQueue) {
    let mut rest: Vec<Option<QueueItem>> = std::mem::take(queue).into_iter().map(Some).collect();
    for e in engine.entries() {
        let found = rest
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.source == e.path));
        if let Some(item) = found.and_then(|at| rest[at].take()) {
            queue.push(item);
        }
    }
    queue.extend(rest.into_iter().flatten());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn item(name: &str) -> QueueItem {
        QueueItem {
            hash: Some(name.into()),
            object: Some(PathBuf::from(name)),
            source: PathBuf::from(name),
            title: name.into(),
            artist: String::new(),
            duration_secs: None,
            cover_art: false,
        }
    }

    #[test]
    fn the_window_list_follows_the_engine_order_and_keeps_what_it_has_not_got_yet() {
        let mut engine = PlayQueue::default();
        engine.add(["a", "b", "c"].map(PathBuf::from).to_vec());
        let ids = engine.ids();
        engine.play_next(ids[2], Some(ids[0]));
        let mut window = vec![item("a"), item("b"), item("c"), item("new")];
        follow(&mut window, &engine);
        let names: Vec<&str> = window.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(names, ["a", "c", "b", "new"]);
    }
}
