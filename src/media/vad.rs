//! Frame energy and silence detection (used for the recording idle timeout).

/// Level reported for digital silence (and empty frames): below any real signal.
pub const FLOOR_DBFS: f32 = -96.0;

/// RMS level of `samples` in dBFS (a full-scale square wave is 0 dBFS), floored at [`FLOOR_DBFS`].
pub fn frame_level_dbfs(samples: &[i16]) -> f32 {
    if samples.is_empty() {
        return FLOOR_DBFS;
    }
    // i64 accumulation: 160 * 32768^2 fits easily, and so do frames of any sane length.
    let sum_sq: i64 = samples.iter().map(|&s| (s as i64) * (s as i64)).sum();
    let mean_sq = sum_sq as f64 / samples.len() as f64;
    if mean_sq <= 0.0 {
        return FLOOR_DBFS;
    }
    let rms = mean_sq.sqrt() / 32768.0;
    ((20.0 * rms.log10()) as f32).max(FLOOR_DBFS)
}

/// Classifies frames as silent when their RMS level is below a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SilenceDetector {
    threshold_dbfs: f32,
}

impl SilenceDetector {
    /// Frames below `threshold_dbfs` (RMS) count as silence.
    pub fn new(threshold_dbfs: f32) -> Self {
        SilenceDetector { threshold_dbfs }
    }

    /// The configured threshold.
    pub fn threshold_dbfs(&self) -> f32 {
        self.threshold_dbfs
    }

    /// True if `frame` is quieter than the threshold.
    pub fn is_silent(&self, frame: &[i16]) -> bool {
        frame_level_dbfs(frame) < self.threshold_dbfs
    }
}

impl Default for SilenceDetector {
    /// -45 dBFS: above line noise and comfort noise on typical PSTN/G.711 calls, well below speech
    /// (about -20 to -30 dBFS).
    fn default() -> Self {
        SilenceDetector::new(-45.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels() {
        assert_eq!(frame_level_dbfs(&[]), FLOOR_DBFS);
        assert_eq!(frame_level_dbfs(&[0; 160]), FLOOR_DBFS);
        // Full-scale square wave: 0 dBFS.
        let sq: Vec<i16> = (0..160)
            .map(|i| if i % 2 == 0 { 32767 } else { -32767 })
            .collect();
        assert!(frame_level_dbfs(&sq).abs() < 0.01);
        // Half amplitude: -6.02 dB.
        let half: Vec<i16> = sq.iter().map(|s| s / 2).collect();
        assert!((frame_level_dbfs(&half) + 6.02).abs() < 0.05);
        // Full-scale sine: -3.01 dBFS.
        let sine: Vec<i16> = (0..160)
            .map(|i| (32767.0 * (i as f32 * std::f32::consts::TAU / 16.0).sin()) as i16)
            .collect();
        assert!((frame_level_dbfs(&sine) + 3.01).abs() < 0.05);
        // One LSB of DC is about -90.3 dBFS, above the floor.
        assert!((frame_level_dbfs(&[1; 160]) + 90.31).abs() < 0.05);
    }

    #[test]
    fn detector() {
        let d = SilenceDetector::default();
        assert_eq!(d.threshold_dbfs(), -45.0);
        assert!(d.is_silent(&[0; 160]));
        // -50 dBFS: amplitude ~104 DC.
        assert!(d.is_silent(&[100; 160]));
        // -40 dBFS: amplitude ~328.
        assert!(!d.is_silent(&[330; 160]));
        let strict = SilenceDetector::new(-60.0);
        assert!(!strict.is_silent(&[100; 160]));
    }
}
