//! The play queue: its entries, each with an id that stays the same while the queue is edited
//! around it, and the order they play in under shuffle and repeat.
//!
//! Plain data, owned by the decoder thread (decoder.rs), which publishes a copy in the engine's
//! status for the front ends; never touched by the audio thread.
//!
//! Shuffle keeps one list, `order`, of the entries in the order they are played: what has been
//! played (the history, walked back by Previous) up to the cursor, then the rest of this round
//! in a random order. Each round holds every entry once, so every track plays once before any
//! plays again; with repeat all, a finished round is followed by a new one (whose first entry
//! is not the one just heard).

use std::path::PathBuf;

/// A queue entry's id: unique for the life of the engine, so an edit names the entry it means
/// even when the queue changed after the asker looked at it.
pub type EntryId = u64;

/// What happens at the end of a track and of the queue.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Repeat {
    /// Play the queue once.
    #[default]
    Off,
    /// Play the current track again and again.
    One,
    /// Play the whole queue again after its end.
    All,
}

impl Repeat {
    /// The next mode of a toggle that cycles off → all → one → off.
    pub fn cycled(self) -> Repeat {
        match self {
            Repeat::Off => Repeat::All,
            Repeat::All => Repeat::One,
            Repeat::One => Repeat::Off,
        }
    }
}

/// Why the queue moves on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The track played to its end (repeat one plays it again).
    Ended,
    /// The user asked for the next, or the track could not be played.
    Skip,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: EntryId,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct PlayQueue {
    entries: Vec<Entry>,
    next_id: EntryId,
    shuffle: bool,
    repeat: Repeat,
    /// Shuffled: the entries in play order, history first (see the module docs).
    order: Vec<EntryId>,
    /// Shuffled: where in `order` the entry being played (decoded) is; `None` before the first.
    cursor: Option<usize>,
}

impl PlayQueue {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn ids(&self) -> Vec<EntryId> {
        self.entries.iter().map(|e| e.id).collect()
    }

    pub fn path(&self, index: usize) -> Option<&PathBuf> {
        self.entries.get(index).map(|e| &e.path)
    }

    pub fn id(&self, index: usize) -> Option<EntryId> {
        self.entries.get(index).map(|e| e.id)
    }

    pub fn index_of(&self, id: EntryId) -> Option<usize> {
        self.entries.iter().position(|e| e.id == id)
    }

    pub fn shuffle(&self) -> bool {
        self.shuffle
    }

    pub fn repeat(&self) -> Repeat {
        self.repeat
    }

    // ---- edits ----

    /// Append `paths`; their new ids.
    pub fn add(&mut self, paths: Vec<PathBuf>) -> Vec<EntryId> {
        let mut ids = Vec::with_capacity(paths.len());
        for path in paths {
            self.next_id += 1;
            let id = self.next_id;
            self.entries.push(Entry { id, path });
            if self.shuffle {
                // Somewhere in what is left of this round.
                let from = self.cursor.map_or(0, |c| c + 1);
                let at = fastrand::usize(from..=self.order.len());
                self.order.insert(at, id);
            }
            ids.push(id);
        }
        ids
    }

    /// Empty the queue (the modes stay).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.cursor = None;
    }

    /// Take entry `id` out; its index before, if it was there.
    pub fn remove(&mut self, id: EntryId) -> Option<usize> {
        let index = self.index_of(id)?;
        self.entries.remove(index);
        let mut i = 0;
        while i < self.order.len() {
            if self.order[i] == id {
                self.order.remove(i);
                if let Some(c) = self.cursor.as_mut()
                    && i < *c
                {
                    *c -= 1;
                }
            } else {
                i += 1;
            }
        }
        if let Some(c) = self.cursor
            && c >= self.order.len()
        {
            self.cursor = self.order.len().checked_sub(1);
        }
        Some(index)
    }

    /// Move entry `id` to index `to` of the list (clamped to its end). Play order under
    /// shuffle does not change. False when there is no such entry.
    pub fn move_to(&mut self, id: EntryId, to: usize) -> bool {
        let Some(from) = self.index_of(id) else {
            return false;
        };
        let e = self.entries.remove(from);
        let to = to.min(self.entries.len());
        self.entries.insert(to, e);
        true
    }

    /// Make entry `id` the next to play after `current` (the entry heard now, if any): in the
    /// list it moves right after `current`; under shuffle it also comes next in play order.
    pub fn play_next(&mut self, id: EntryId, current: Option<EntryId>) -> bool {
        if Some(id) == current || self.index_of(id).is_none() {
            return false;
        }
        let e = self.entries.remove(self.index_of(id).expect("checked"));
        let at = current.and_then(|c| self.index_of(c)).map_or(0, |c| c + 1);
        self.entries.insert(at, e);
        if self.shuffle {
            let after = current.map_or(self.cursor, |c| self.position_in_order(c));
            self.take_from_rest(id, after);
            let at = after.map_or(0, |p| p + 1);
            self.order.insert(at.min(self.order.len()), id);
        }
        true
    }

    // ---- modes ----

    pub fn set_repeat(&mut self, repeat: Repeat) {
        self.repeat = repeat;
    }

    /// Shuffle on (a fresh round, starting at `current` if one plays) or off (the list order).
    pub fn set_shuffle(&mut self, on: bool, current: Option<EntryId>) {
        if on == self.shuffle {
            return;
        }
        self.shuffle = on;
        self.order.clear();
        self.cursor = None;
        if on {
            let mut rest: Vec<EntryId> = self
                .entries
                .iter()
                .map(|e| e.id)
                .filter(|&i| Some(i) != current)
                .collect();
            fastrand::shuffle(&mut rest);
            if let Some(c) = current.filter(|&c| self.index_of(c).is_some()) {
                self.order.push(c);
                self.cursor = Some(0);
            }
            self.order.extend(rest);
        }
    }

    // ---- navigation ----

    /// The entry to start with when nothing has played yet.
    pub fn first(&mut self) -> Option<EntryId> {
        if self.shuffle {
            if self.order.is_empty() {
                self.new_round(None);
            }
            self.order.first().copied()
        } else {
            self.entries.first().map(|e| e.id)
        }
    }

    /// The entry that follows `from` (`None`: the queue ends there). Does not move the
    /// cursor ([`PlayQueue::arrive`] does), so a look ahead changes nothing.
    pub fn next(&mut self, from: EntryId, step: Step) -> Option<EntryId> {
        if self.entries.is_empty() {
            return None;
        }
        if step == Step::Ended && self.repeat == Repeat::One && self.index_of(from).is_some() {
            return Some(from);
        }
        if self.shuffle {
            let p = self.position_in_order(from);
            let at = p.map_or(0, |p| p + 1);
            if at >= self.order.len() {
                if self.repeat != Repeat::All {
                    return None;
                }
                self.new_round(Some(from));
            }
            return self.order.get(at).copied();
        }
        let next = self.index_of(from).map_or(0, |i| i + 1);
        match self.entries.get(next) {
            Some(e) => Some(e.id),
            None if self.repeat == Repeat::All => self.entries.first().map(|e| e.id),
            None => None,
        }
    }

    /// The entry before `from` in play order (the list, or the shuffle history); `None` at
    /// the start. Moves the cursor back under shuffle: the history is walked, not rewritten.
    pub fn previous(&mut self, from: EntryId) -> Option<EntryId> {
        if self.shuffle {
            let p = self.position_in_order(from)?;
            let back = p.checked_sub(1)?;
            self.cursor = Some(back);
            return self.order.get(back).copied();
        }
        let i = self.index_of(from)?;
        self.entries.get(i.checked_sub(1)?).map(|e| e.id)
    }

    /// Playback reached entry `id` (it is now the one decoded): under shuffle the cursor
    /// moves to it, the next in order, or (a jump) it is taken out of the rest of the round
    /// and played here.
    pub fn arrive(&mut self, id: EntryId) {
        if !self.shuffle {
            return;
        }
        let next = self.cursor.map_or(0, |c| c + 1);
        if self.cursor.is_some_and(|c| self.order.get(c) == Some(&id)) {
            return;
        }
        if self.order.get(next) == Some(&id) {
            self.cursor = Some(next);
            return;
        }
        self.take_from_rest(id, self.cursor);
        let at = next.min(self.order.len());
        self.order.insert(at, id);
        self.cursor = Some(at);
    }

    /// The files in the order they will play from entry `from` (the one decoded now, which
    /// comes first; `None`: from the start), then the rest of the round and those played
    /// before: what to copy ahead first. Under shuffle this is the shuffle order, else the list.
    pub fn play_order(&self, from: Option<usize>) -> Vec<PathBuf> {
        let ids: Vec<EntryId> = if self.shuffle {
            let at = from
                .and_then(|i| self.id(i))
                .and_then(|id| self.order.iter().position(|&o| o == id))
                .unwrap_or(0);
            let mut v: Vec<EntryId> = self.order[at.min(self.order.len())..]
                .iter()
                .chain(&self.order[..at.min(self.order.len())])
                .copied()
                .collect();
            // Entries added since the round began and not placed in it yet.
            v.extend(
                self.entries
                    .iter()
                    .map(|e| e.id)
                    .filter(|id| !self.order.contains(id)),
            );
            v
        } else {
            let at = from.unwrap_or(0).min(self.entries.len());
            self.entries[at..]
                .iter()
                .chain(&self.entries[..at])
                .map(|e| e.id)
                .collect()
        };
        ids.iter()
            .filter_map(|&id| self.index_of(id).and_then(|i| self.path(i)).cloned())
            .collect()
    }

    /// Whether Next would go anywhere from `current`.
    pub fn can_go_next(&self, current: Option<EntryId>) -> bool {
        if self.entries.is_empty() {
            return false;
        }
        let Some(cur) = current else {
            return true;
        };
        if self.repeat == Repeat::All {
            return true;
        }
        if self.shuffle {
            let p = self.position_in_order(cur);
            return p.map_or(0, |p| p + 1) < self.order.len();
        }
        self.index_of(cur)
            .is_some_and(|i| i + 1 < self.entries.len())
    }

    /// Whether Previous has an entry to go back to from `current`.
    pub fn can_go_previous(&self, current: Option<EntryId>) -> bool {
        let Some(cur) = current else {
            return false;
        };
        if self.shuffle {
            return self.position_in_order(cur).is_some_and(|p| p > 0);
        }
        self.index_of(cur).is_some_and(|i| i > 0)
    }

    /// Under shuffle: where `id` is in the play order, looked for at the cursor first, then
    /// just before it (playback has run ahead into the next entry, gaplessly, while `id` is
    /// still heard), then anywhere.
    fn position_in_order(&self, id: EntryId) -> Option<usize> {
        if let Some(c) = self.cursor {
            for p in [Some(c), c.checked_sub(1)].into_iter().flatten() {
                if self.order.get(p) == Some(&id) {
                    return Some(p);
                }
            }
        }
        self.order.iter().rposition(|&o| o == id)
    }

    /// Under shuffle: take `id` out of the part of the order after position `after`.
    fn take_from_rest(&mut self, id: EntryId, after: Option<usize>) {
        let from = after.map_or(0, |p| p + 1);
        if let Some(off) = self.order.iter().skip(from).position(|&o| o == id) {
            self.order.remove(from + off);
        }
    }

    /// Append a new shuffled round of every entry; its first is not `last` (when there is a
    /// choice), so no track is heard twice in a row.
    fn new_round(&mut self, last: Option<EntryId>) {
        let mut round: Vec<EntryId> = self.entries.iter().map(|e| e.id).collect();
        fastrand::shuffle(&mut round);
        if round.len() > 1 && round.first() == last.as_ref() {
            let swap = fastrand::usize(1..round.len());
            round.swap(0, swap);
        }
        self.order.extend(round);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(n: usize) -> PlayQueue {
        let mut q = PlayQueue::default();
        q.add((0..n).map(|i| PathBuf::from(format!("{i}.flac"))).collect());
        q
    }

    /// Plays from the first to the end (or `limit` entries), as the decoder does.
    fn play(q: &mut PlayQueue, limit: usize) -> Vec<EntryId> {
        let mut heard = Vec::new();
        let mut cur = q.first();
        while let Some(c) = cur {
            q.arrive(c);
            heard.push(c);
            if heard.len() == limit {
                break;
            }
            cur = q.next(c, Step::Ended);
        }
        heard
    }

    #[test]
    fn shuffle_plays_every_entry_once_then_stops() {
        let mut q = queue(12);
        q.set_shuffle(true, None);
        let mut heard = play(&mut q, 100);
        assert_eq!(heard.len(), 12);
        heard.sort();
        assert_eq!(heard, q.ids());
    }

    #[test]
    fn shuffle_with_repeat_all_finishes_a_round_before_any_entry_repeats() {
        let mut q = queue(5);
        q.set_shuffle(true, None);
        q.set_repeat(Repeat::All);
        let heard = play(&mut q, 15);
        for round in heard.chunks(5) {
            let mut r = round.to_vec();
            r.sort();
            assert_eq!(r, q.ids());
        }
        for pair in heard.windows(2) {
            assert_ne!(pair[0], pair[1], "a track twice in a row: {heard:?}");
        }
    }

    #[test]
    fn previous_walks_back_through_the_shuffle_history_and_next_replays_it() {
        let mut q = queue(6);
        q.set_shuffle(true, None);
        let heard = play(&mut q, 4);
        let mut back = vec![heard[3]];
        let mut cur = heard[3];
        while let Some(p) = q.previous(cur) {
            q.arrive(p);
            back.push(p);
            cur = p;
        }
        back.reverse();
        assert_eq!(back, heard);
        assert_eq!(q.next(heard[0], Step::Skip), Some(heard[1]));
    }

    #[test]
    fn repeat_one_repeats_at_the_end_but_next_moves_on() {
        let mut q = queue(3);
        q.set_repeat(Repeat::One);
        let a = q.first().unwrap();
        assert_eq!(q.next(a, Step::Ended), Some(a));
        assert_eq!(q.next(a, Step::Skip), q.id(1));
    }

    #[test]
    fn repeat_all_wraps_to_the_first() {
        let mut q = queue(3);
        assert_eq!(q.next(q.id(2).unwrap(), Step::Ended), None);
        q.set_repeat(Repeat::All);
        assert_eq!(q.next(q.id(2).unwrap(), Step::Ended), q.id(0));
    }

    #[test]
    fn an_edit_keeps_each_id_on_its_file() {
        let mut q = queue(4);
        let ids = q.ids();
        q.remove(ids[1]);
        assert!(q.move_to(ids[3], 0));
        assert!(q.play_next(ids[0], Some(ids[2])));
        let order: Vec<_> = q.entries().iter().map(|e| e.path.clone()).collect();
        let names: Vec<_> = order
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["3.flac", "2.flac", "0.flac"]);
        assert_eq!(
            q.path(q.index_of(ids[2]).unwrap()).unwrap(),
            &PathBuf::from("2.flac")
        );
    }

    #[test]
    fn play_next_under_shuffle_comes_next_in_play_order() {
        let mut q = queue(8);
        q.set_shuffle(true, None);
        let heard = play(&mut q, 2);
        let later = *q.ids().iter().find(|i| !heard.contains(i)).unwrap();
        q.play_next(later, Some(heard[1]));
        assert_eq!(q.next(heard[1], Step::Ended), Some(later));
    }
}
