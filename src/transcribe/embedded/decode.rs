//! Turning one window's audio features into tokens, as OpenAI's `whisper/decoding.py` and
//! faster-whisper do it: beam search (5 beams) first; when that result looks like a
//! hallucination (a loop, or low probability), sampling at rising temperatures, best of 5;
//! a window the model thinks holds no speech gives nothing. Tokens become text through the
//! model's byte-level BPE vocabulary.

use std::path::Path;
use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::model::Whisper;

type Result<T> = std::result::Result<T, String>;

/// The model's tokens as bytes, and the special ones decoding needs.
pub struct Vocabulary {
    bytes: Vec<Vec<u8>>,
    pub end_of_text: u32,
    start_of_transcript: u32,
    no_timestamps: u32,
    no_speech: u32,
    /// Added to the logits at every step, and at the first step (`-inf` where suppressed).
    suppress: Tensor,
    suppress_first: Tensor,
}

fn token_id(tokens: &[String], name: &str) -> Result<u32> {
    tokens
        .iter()
        .position(|t| t == name)
        .map(|i| i as u32)
        .ok_or_else(|| format!("vocabulary.txt has no {name}"))
}

impl Vocabulary {
    /// From the model directory's `vocabulary.txt` (one token per line, by id) and
    /// `config.json` (`suppress_ids`, `suppress_ids_begin`).
    pub fn load(dir: &Path, vocab_size: usize) -> Result<Vocabulary> {
        let read = |f: &str| {
            std::fs::read_to_string(dir.join(f))
                .map_err(|e| format!("{}: {e}", dir.join(f).display()))
        };
        let tokens: Vec<String> = read("vocabulary.txt")?.lines().map(str::to_owned).collect();
        if tokens.len() != vocab_size {
            return Err(format!(
                "vocabulary.txt has {} tokens; the model has {vocab_size}",
                tokens.len()
            ));
        }
        let config: serde_json::Value =
            serde_json::from_str(&read("config.json")?).map_err(|e| format!("config.json: {e}"))?;
        let ids = |key: &str| -> Vec<usize> {
            config[key]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_u64())
                        .map(|v| v as usize)
                        .collect()
                })
                .unwrap_or_default()
        };
        let end_of_text = token_id(&tokens, "<|endoftext|>")?;
        let mut suppress = vec![0f32; vocab_size];
        for i in ids("suppress_ids") {
            if let Some(s) = suppress.get_mut(i) {
                *s = f32::NEG_INFINITY;
            }
        }
        // Special tokens (start of transcript, timestamps, ...) are never text.
        for s in suppress.iter_mut().skip(end_of_text as usize + 1) {
            *s = f32::NEG_INFINITY;
        }
        let mut first = suppress.clone();
        for i in ids("suppress_ids_begin") {
            if let Some(s) = first.get_mut(i) {
                *s = f32::NEG_INFINITY;
            }
        }
        let byte_of = unicode_to_byte();
        Ok(Vocabulary {
            bytes: tokens
                .iter()
                .map(|t| t.chars().filter_map(&byte_of).collect())
                .collect(),
            end_of_text,
            start_of_transcript: token_id(&tokens, "<|startoftranscript|>")?,
            no_timestamps: token_id(&tokens, "<|notimestamps|>")?,
            no_speech: token_id(&tokens, "<|nocaptions|>")
                .or_else(|_| token_id(&tokens, "<|nospeech|>"))?,
            suppress: Tensor::from_vec(suppress, vocab_size, &Device::Cpu)
                .map_err(|e| e.to_string())?,
            suppress_first: Tensor::from_vec(first, vocab_size, &Device::Cpu)
                .map_err(|e| e.to_string())?,
        })
    }

    /// The text of `tokens` (special tokens skipped).
    pub fn text(&self, tokens: &[u32]) -> String {
        let bytes: Vec<u8> = tokens
            .iter()
            .filter(|&&t| t < self.end_of_text)
            .filter_map(|&t| self.bytes.get(t as usize))
            .flatten()
            .copied()
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Whether `token`'s text starts a new word.
    pub fn starts_word(&self, token: u32) -> bool {
        self.bytes
            .get(token as usize)
            .and_then(|b| b.first())
            .is_some_and(|&b| b == b' ')
    }
}

/// GPT-2's byte-level BPE shows each byte as a printable character; this undoes it.
fn unicode_to_byte() -> impl Fn(char) -> Option<u8> {
    let mut table = std::collections::HashMap::new();
    let mut shifted = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        let c = if printable {
            char::from(b)
        } else {
            shifted += 1;
            char::from_u32(255 + shifted).unwrap_or('\u{FFFD}')
        };
        table.insert(c, b);
    }
    move |c| table.get(&c).copied()
}

/// One window's result.
#[derive(Debug, Default)]
pub struct Decoded {
    pub tokens: Vec<u32>,
    /// Log-probability of each token.
    pub logprobs: Vec<f32>,
    pub avg_logprob: f32,
    pub no_speech: f32,
}

const BEAMS: usize = 5;
const BEST_OF: usize = 5;
/// faster-whisper's defaults: fall back when the average log-probability is below this,
/// or the text repeats itself (their compression-ratio test, here on token 4-grams).
const LOGPROB_THRESHOLD: f32 = -1.0;
const NO_SPEECH_THRESHOLD: f32 = 0.6;
const TEMPERATURES: [f32; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];

/// Hypothesis in a beam: text tokens so far, their log-probabilities, and the sum of those
/// and (once ended) of the end-of-text token's.
#[derive(Clone, Debug, Default)]
struct Hypothesis {
    tokens: Vec<u32>,
    logprobs: Vec<f32>,
    sum: f32,
}

impl Hypothesis {
    fn extended(&self, token: u32, lp: f32) -> Hypothesis {
        let mut h = self.clone();
        h.tokens.push(token);
        h.logprobs.push(lp);
        h.sum += lp;
        h
    }

    /// Finished by the end-of-text token, whose probability counts but which is no text.
    fn ended(&self, lp: f32) -> Hypothesis {
        let mut h = self.clone();
        h.sum += lp;
        h
    }

    /// Ranking score: the sum over the text's length (Whisper's default length penalty).
    fn score(&self) -> f32 {
        self.sum / self.tokens.len().max(1) as f32
    }

    fn into_decoded(self, no_speech: f32) -> Decoded {
        Decoded {
            avg_logprob: self.sum / (self.tokens.len() + 1) as f32,
            tokens: self.tokens,
            logprobs: self.logprobs,
            no_speech,
        }
    }
}

/// Decodes one window (`audio`: the encoder's output); `None` when the window holds no speech.
pub fn decode_window(
    model: &Whisper,
    vocab: &Vocabulary,
    audio: &Tensor,
    max_tokens: usize,
    deadline: Instant,
) -> Result<Option<Decoded>> {
    let started = Instant::now();
    let mut best = beam_search(model, vocab, audio, max_tokens, deadline)?;
    tracing::debug!(
        tokens = best.tokens.len(),
        avg_logprob = best.avg_logprob,
        no_speech = best.no_speech,
        repetitive = repetitive(&best.tokens),
        seconds = started.elapsed().as_secs_f64(),
        "beam search"
    );
    if best.no_speech > NO_SPEECH_THRESHOLD && best.avg_logprob < LOGPROB_THRESHOLD {
        return Ok(None);
    }
    let mut rng = SmallRng::seed_from_u64(0x5749_5350);
    for t in TEMPERATURES {
        if !needs_fallback(&best) || Instant::now() >= deadline {
            break;
        }
        // A fallback cut short by the deadline leaves the beam search's result.
        let Ok(sampled) = sample(model, vocab, audio, max_tokens, t, &mut rng, deadline) else {
            break;
        };
        tracing::debug!(
            temperature = t,
            tokens = sampled.tokens.len(),
            avg_logprob = sampled.avg_logprob,
            repetitive = repetitive(&sampled.tokens),
            "fallback sample"
        );
        // As faster-whisper: the first that passes; failing that, the likeliest of those
        // that do not loop (a loop is likely token by token, and useless).
        let rank = |d: &Decoded| (!repetitive(&d.tokens), d.avg_logprob);
        if !needs_fallback(&sampled)
            || rank(&sampled)
                .partial_cmp(&rank(&best))
                .is_some_and(|o| o.is_gt())
        {
            best = sampled;
        }
    }
    cut_loop(&mut best);
    Ok(Some(best))
}

/// Whether the last tokens repeat one short sequence (period 1-8) far more often than speech
/// does: 12 times for a single token, 6 for two ("five, five, ..."), 4 for longer ones.
fn looping_tail(tokens: &[u32]) -> Option<(usize, usize)> {
    (1..=8).find_map(|period| {
        let times = (12 / period).max(4);
        let span = period * times;
        if tokens.len() < span {
            return None;
        }
        let tail = &tokens[tokens.len() - span..];
        let unit = &tail[..period];
        tail.chunks(period)
            .all(|c| c == unit)
            .then_some((period, times))
    })
}

/// Keeps one turn of a loop the decoder ended in ("$200,000,000,000,..." → "$200,000").
fn cut_loop(d: &mut Decoded) {
    let Some((period, _)) = looping_tail(&d.tokens) else {
        return;
    };
    let mut end = d.tokens.len();
    while end >= 2 * period
        && d.tokens[end - period..end] == d.tokens[end - 2 * period..end - period]
    {
        end -= period;
    }
    d.tokens.truncate(end);
    d.logprobs.truncate(end);
}

fn needs_fallback(d: &Decoded) -> bool {
    d.avg_logprob < LOGPROB_THRESHOLD || repetitive(&d.tokens)
}

/// A decoding loop ("eight, eight, eight, ..."): few distinct 4-grams among many.
fn repetitive(tokens: &[u32]) -> bool {
    if tokens.len() < 24 {
        return false;
    }
    let grams: Vec<&[u32]> = tokens.windows(4).collect();
    let distinct: std::collections::HashSet<&[u32]> = grams.iter().copied().collect();
    (distinct.len() as f32) < 0.5 * grams.len() as f32
}

/// Feeds the prompt; the no-speech probability and the state for the first text token.
fn prime(
    model: &Whisper,
    vocab: &Vocabulary,
    audio: &Tensor,
) -> Result<(super::model::DecoderState, f32, Vec<f32>)> {
    let mut state = model.start(audio)?;
    // The no-speech probability is the model's prediction right after start-of-transcript.
    let first = model.step(&mut state, &[vec![vocab.start_of_transcript]], None)?;
    let no_speech = first
        .get(vocab.no_speech as usize)
        .map_or(0.0, |lp| lp.exp());
    let lp = model.step(
        &mut state,
        &[vec![vocab.no_timestamps]],
        Some(&vocab.suppress_first),
    )?;
    Ok((state, no_speech, lp))
}

fn beam_search(
    model: &Whisper,
    vocab: &Vocabulary,
    audio: &Tensor,
    max_tokens: usize,
    deadline: Instant,
) -> Result<Decoded> {
    let (mut state, no_speech, mut lp) = prime(model, vocab, audio)?;
    let v = model.vocab;
    let mut beams = vec![Hypothesis::default()];
    let mut finished: Vec<Hypothesis> = Vec::new();
    for _ in 0..max_tokens {
        if Instant::now() >= deadline {
            return Err("the deadline passed while decoding".into());
        }
        let mut candidates: Vec<(f32, usize, u32, f32)> = Vec::new();
        for (b, h) in beams.iter().enumerate() {
            let row = &lp[b * v..(b + 1) * v];
            for (tok, l) in top_k(row, BEAMS + 1) {
                candidates.push((h.sum + l, b, tok, l));
            }
        }
        candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut next = Vec::with_capacity(BEAMS);
        let mut from = Vec::with_capacity(BEAMS);
        // As OpenAI's decoder: the best candidates in order until the beams are full; an
        // ending among them finishes a hypothesis (up to BEAMS of them).
        for (_, b, tok, l) in candidates {
            if next.len() == BEAMS {
                break;
            }
            if tok == vocab.end_of_text {
                if finished.len() < BEAMS {
                    finished.push(beams[b].ended(l));
                }
            } else {
                next.push(beams[b].extended(tok, l));
                from.push(b as u32);
            }
        }
        if finished.len() >= BEAMS || next.is_empty() {
            break;
        }
        beams = next;
        lp = advance(model, vocab, &mut state, &from, &beams)?;
    }
    for h in &finished {
        tracing::trace!(score = h.score(), text = %vocab.text(&h.tokens), "finished");
    }
    let pool = if finished.is_empty() { beams } else { finished };
    Ok(likeliest(pool).into_decoded(no_speech))
}

/// Keeps the decoder's rows `from` (one per hypothesis of `hyps`, in order) and feeds each
/// hypothesis its newest token: the next step's log-probabilities.
fn advance(
    model: &Whisper,
    vocab: &Vocabulary,
    state: &mut super::model::DecoderState,
    from: &[u32],
    hyps: &[Hypothesis],
) -> Result<Vec<f32>> {
    model.reorder(state, from)?;
    let last: Vec<Vec<u32>> = hyps
        .iter()
        .map(|h| vec![*h.tokens.last().unwrap_or(&0)])
        .collect();
    model.step(state, &last, Some(&vocab.suppress))
}

/// The hypothesis with the best length-normalised score.
fn likeliest(hyps: Vec<Hypothesis>) -> Hypothesis {
    hyps.into_iter()
        .max_by(|a, b| a.score().total_cmp(&b.score()))
        .unwrap_or_default()
}

/// `BEST_OF` samples at temperature `t` as one batch; the one with the best mean log-probability.
fn sample(
    model: &Whisper,
    vocab: &Vocabulary,
    audio: &Tensor,
    max_tokens: usize,
    t: f32,
    rng: &mut SmallRng,
    deadline: Instant,
) -> Result<Decoded> {
    let (mut state, no_speech, lp) = prime(model, vocab, audio)?;
    let v = model.vocab;
    model.reorder(&mut state, &[0; BEST_OF])?;
    let mut lp: Vec<f32> = lp.repeat(BEST_OF);
    let mut live: Vec<Hypothesis> = vec![Hypothesis::default(); BEST_OF];
    let mut done: Vec<Hypothesis> = Vec::new();
    for _ in 0..max_tokens {
        if Instant::now() >= deadline {
            return Err("the deadline passed while decoding".into());
        }
        let mut next = Vec::new();
        let mut from = Vec::new();
        for (b, h) in live.iter().enumerate() {
            let row = &lp[b * v..(b + 1) * v];
            let tok = draw(row, t, rng);
            let l = row[tok as usize];
            if tok == vocab.end_of_text {
                done.push(h.ended(l));
            } else if looping_tail(&h.tokens).is_some() {
                // Caught in a loop: it would only go round until the token budget.
                done.push(h.clone());
            } else {
                next.push(h.extended(tok, l));
                from.push(b as u32);
            }
        }
        if next.is_empty() {
            live = next;
            break;
        }
        live = next;
        lp = advance(model, vocab, &mut state, &from, &live)?;
    }
    done.extend(live);
    Ok(likeliest(done).into_decoded(no_speech))
}

/// A token drawn from `softmax(row / t)`.
fn draw(row: &[f32], t: f32, rng: &mut SmallRng) -> u32 {
    let peak = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f32> = row.iter().map(|&l| ((l - peak) / t).exp()).collect();
    let total: f32 = weights.iter().sum();
    let mut x = rng.gen::<f32>() * total;
    for (i, w) in weights.iter().enumerate() {
        x -= w;
        if x <= 0.0 {
            return i as u32;
        }
    }
    (row.len() - 1) as u32
}

/// The `k` largest entries of `row` as (index, value), largest first.
fn top_k(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
    for (i, &x) in row.iter().enumerate() {
        if best.len() < k || x > best[best.len() - 1].1 {
            let at = best.partition_point(|&(_, y)| y >= x);
            best.insert(at, (i as u32, x));
            best.truncate(k);
        }
    }
    best
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn top_k_is_sorted_and_complete() {
        let row = [0.1, 0.9, -3.0, 0.5, 0.9, 0.2];
        assert_eq!(top_k(&row, 3), vec![(1, 0.9), (4, 0.9), (3, 0.5)]);
        assert_eq!(top_k(&row[..2], 5).len(), 2);
    }

    #[test]
    fn byte_level_characters_map_back_to_bytes() {
        let byte_of = unicode_to_byte();
        // GPT-2 shows a space as "Ġ" (U+0120) and a newline as "Ċ" (U+010A).
        assert_eq!(byte_of('Ġ'), Some(b' '));
        assert_eq!(byte_of('Ċ'), Some(b'\n'));
        assert_eq!(byte_of('a'), Some(b'a'));
        assert_eq!(byte_of('é'), Some(0xE9));
    }

    #[test]
    fn loops_are_repetitive_and_speech_is_not() {
        let looped: Vec<u32> = [807, 11].repeat(20);
        assert!(repetitive(&looped));
        let speech: Vec<u32> = (0..40).collect();
        assert!(!repetitive(&speech));
        assert!(!repetitive(&looped[..10]));
    }

    #[test]
    fn a_loop_is_cut_to_one_turn_and_spoken_repeats_are_left() {
        // "$200" then ",000" twenty times.
        let mut d = Decoded {
            tokens: [vec![3, 200], vec![11; 20]].concat(),
            logprobs: vec![-0.1; 22],
            ..Decoded::default()
        };
        assert!(looping_tail(&d.tokens).is_some());
        cut_loop(&mut d);
        assert_eq!(d.tokens, vec![3, 200, 11]);
        assert_eq!(d.logprobs.len(), 3);
        // "five, five, five, zero" is a phone number, not a loop.
        let number = [1, 9].repeat(3);
        assert!(looping_tail(&number).is_none());
        let mut kept = Decoded {
            tokens: number.clone(),
            logprobs: vec![-0.1; 6],
            ..Decoded::default()
        };
        cut_loop(&mut kept);
        assert_eq!(kept.tokens, number);
        // Six turns of a pair are a loop.
        assert!(looping_tail(&[1, 9].repeat(6)).is_some());
    }

    #[test]
    fn a_sample_at_low_temperature_is_the_most_likely_token() {
        let mut rng = SmallRng::seed_from_u64(1);
        let row = [-5.0, -0.01, -6.0];
        assert!((0..50).all(|_| draw(&row, 0.05, &mut rng) == 1));
    }
}
