//! Prompt playout queue: turns queued prompts into frames of one packet each.

use std::collections::VecDeque;
use std::sync::Arc;

/// A queue of prompts played back to back, one packet's frame (160 samples at 20 ms) at a time.
///
/// Prompts are shared `Arc<[i16]>` (from the prompt cache), so enqueueing copies no audio, and
/// [`Player::next_frame`] only copies samples into the caller's frame.
#[derive(Debug, Default)]
pub struct Player {
    queue: VecDeque<Arc<[i16]>>,
    /// Read position in the front prompt.
    pos: usize,
    played: u64,
}

impl Player {
    /// An idle player.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a prompt after whatever is queued.
    pub fn enqueue(&mut self, audio: Arc<[i16]>) {
        if !audio.is_empty() {
            self.queue.push_back(audio);
        }
    }

    /// Stops playback and drops everything queued (e.g. the caller barged in with DTMF).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.pos = 0;
    }

    /// True while any queued audio remains.
    pub fn is_playing(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Samples still to play.
    pub fn remaining_samples(&self) -> usize {
        self.queue.iter().map(|a| a.len()).sum::<usize>() - self.pos
    }

    /// Fills `out` with the next frame; returns false (leaving `out` untouched) when idle.
    ///
    /// A frame may span the end of one prompt and the start of the next; the final partial
    /// frame is padded with zeros.
    pub fn next_frame(&mut self, out: &mut [i16]) -> bool {
        if self.queue.is_empty() {
            return false;
        }
        let mut filled = 0;
        while filled < out.len() {
            let Some(front) = self.queue.front() else {
                break;
            };
            let take = (front.len() - self.pos).min(out.len() - filled);
            out[filled..filled + take].copy_from_slice(&front[self.pos..self.pos + take]);
            filled += take;
            self.pos += take;
            if self.pos >= front.len() {
                self.queue.pop_front();
                self.pos = 0;
            }
        }
        out[filled..].fill(0);
        self.played += filled as u64;
        true
    }

    /// Real (non-padding) samples played so far.
    pub fn played_samples(&self) -> u64 {
        self.played
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::FRAME_SAMPLES;

    fn ramp(start: i16, n: usize) -> Arc<[i16]> {
        (0..n).map(|i| start + i as i16).collect::<Vec<_>>().into()
    }

    #[test]
    fn plays_back_to_back_and_pads() {
        let mut p = Player::new();
        let mut f = [7i16; FRAME_SAMPLES];
        assert!(!p.is_playing());
        assert!(!p.next_frame(&mut f));
        assert_eq!(f, [7; FRAME_SAMPLES]);

        p.enqueue(ramp(0, 200));
        p.enqueue(Arc::from(Vec::new())); // ignored
        p.enqueue(ramp(1000, 100));
        assert_eq!(p.remaining_samples(), 300);
        assert!(p.next_frame(&mut f));
        assert_eq!(f[0], 0);
        assert_eq!(f[159], 159);
        assert!(p.next_frame(&mut f));
        // 40 samples from the first prompt, then 100 from the second, then padding.
        assert_eq!(f[39], 199);
        assert_eq!(f[40], 1000);
        assert_eq!(f[139], 1099);
        assert!(f[140..].iter().all(|&s| s == 0));
        assert!(!p.is_playing());
        assert!(!p.next_frame(&mut f));
        assert_eq!(p.played_samples(), 300);
    }

    #[test]
    fn clear_stops() {
        let mut p = Player::new();
        p.enqueue(ramp(0, 1000));
        let mut f = [0i16; FRAME_SAMPLES];
        assert!(p.next_frame(&mut f));
        p.clear();
        assert!(!p.is_playing());
        assert!(!p.next_frame(&mut f));
        p.enqueue(ramp(5, 10));
        assert!(p.next_frame(&mut f));
        assert_eq!(f[0], 5, "restarts at the new prompt's beginning");
    }
}
