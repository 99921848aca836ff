use super::*;

#[test]
fn a_missing_model_file_is_named_with_the_way_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("model.bin"), b"x").unwrap();
    let e = EmbeddedEngine::open(dir.path()).err().unwrap().to_string();
    assert!(e.contains("config.json is missing"), "{e}");
    assert!(e.contains("scripts/install-model.sh"), "{e}");
}

#[test]
fn weights_that_are_not_the_published_ones_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for f in FILES {
        std::fs::write(dir.path().join(f), b"not a model").unwrap();
    }
    let engine = EmbeddedEngine::open(dir.path()).unwrap();
    let e = engine.load_now().unwrap_err().to_string();
    assert!(e.contains("is not the published"), "{e}");
    // The refusal is remembered: a transcription fails at once, without reading again.
    let t = engine.transcribe(
        &[0; 800],
        Instant::now() + std::time::Duration::from_secs(5),
    );
    assert!(matches!(t, Err(TranscribeError::Engine(_))));
}

#[test]
fn long_recordings_are_cut_at_a_pause_before_thirty_seconds() {
    let rate = mel::RATE;
    // 70 s of "speech" (a tone) with a silent 200 ms at 27.5 s and at 55 s.
    let mut pcm: Vec<f32> = (0..70 * rate)
        .map(|i| (i as f32 * 0.3).sin() * 0.3)
        .collect();
    for pause in [27 * rate + rate / 2, 55 * rate] {
        pcm[pause..pause + rate / 5].fill(0.0);
    }
    let w = windows(&pcm);
    let lens: Vec<usize> = w.iter().map(|w| w.len()).collect();
    assert_eq!(lens.iter().sum::<usize>(), pcm.len());
    assert_eq!(lens.len(), 3, "{lens:?}");
    assert!((27 * rate..28 * rate).contains(&lens[0]), "{lens:?}");
    assert!(
        (55 * rate..56 * rate).contains(&(lens[0] + lens[1])),
        "{lens:?}"
    );
    assert!(lens.iter().all(|&l| l <= WINDOW_SECONDS * rate));
    // Up to 30 s is one window; just over, two.
    assert_eq!(windows(&pcm[..10 * rate]).len(), 1);
    assert_eq!(windows(&pcm[..30 * rate]).len(), 1);
    let just_over = windows(&pcm[..30 * rate + 100]);
    assert_eq!(just_over.len(), 2);
    assert_eq!(just_over[0].len() + just_over[1].len(), 30 * rate + 100);
}
